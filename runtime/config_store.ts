/**
 * The configuration store: the supervisor owns `{ version, value }`, applies
 * publishes one at a time (with optional compare-and-set on `ifVersion`),
 * persists each new value to the `--config` file when there is one, sends it
 * to every live worker, and settles the publish once every one of them has
 * run its `reload` hook, or with the list of those that did not.
 *
 * Versions count from 0 at each supervisor start; the file holds the value
 * only, so people can keep editing it by hand.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { describeError, RotaError } from "./errors.ts";
import { parseJsonText } from "./json_text.ts";
import type { Logger } from "./log.ts";
import type { SupervisorMessage } from "./protocol.ts";

/**
 * The largest configuration, as JSON. It is settings, not data: each worker
 * receives it in its environment when it is spawned, where Linux allows
 * 128 KiB for one variable.
 */
export const MAX_CONFIG_BYTES = 64 * 1024;

function checkSize(text: string, what: string): void {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new RotaError(
      "ERR_ROTA_CONFIG",
      `Cannot use ${what} as it is ${text.length} bytes of JSON: the limit is ${MAX_CONFIG_BYTES}`,
    );
  }
}

/** A configuration and its version. */
export interface Versioned {
  readonly version: number;
  readonly value: unknown;
}

/** A worker a configuration is sent to. */
export interface ConfigTarget {
  /** Identity of the worker, for acknowledgements. */
  readonly key: object;
  readonly slot: number;
  readonly generation: number;
  readonly pid: number;
  send(message: SupervisorMessage): void;
}

/** A worker that did not apply a version. */
export interface ReloadFailure {
  /** The worker's slot. */
  readonly slot: number;
  /** How many workers the slot had before this one. */
  readonly generation: number;
  /** The worker's process id. */
  readonly pid: number;
  /** `reload-failed`: its hook threw; `timeout`: no answer in time; `exited`: it went away first. */
  readonly reason: "reload-failed" | "timeout" | "exited";
  /** The hook's error message, for `reload-failed`. */
  readonly message?: string;
}

/** What a successful publish reports. */
export interface PublishResult {
  /** The version the value was published as. */
  readonly version: number;
  /** Workers that did not apply it; empty when every worker did. */
  readonly failed: readonly ReloadFailure[];
}

/** Options for {@linkcode ConfigStore}. */
export interface ConfigStoreOptions {
  /** The initial value. */
  initial: unknown;
  /** Where to persist new values; `undefined` when the value came from code. */
  persist?: (text: string) => Promise<void>;
  /** Source of time for the acknowledgement deadline. */
  clock: Clock;
  /** How long workers get to run `reload` before they are reported as timed out. @default {10000} */
  ackTimeout?: number;
  /** Where the store speaks. */
  log: Logger;
}

interface Broadcast {
  readonly version: number;
  readonly waiting: Map<object, ConfigTarget>;
  readonly failed: ReloadFailure[];
  readonly done: () => void;
}

/**
 * Serialise a value as the file holds it.
 *
 * @param value A JSON value.
 * @returns Pretty JSON with a final newline.
 */
export function formatConfig(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Parse a configuration file's text.
 *
 * @param text The file's content.
 * @param path Its path, for the error.
 * @returns The value.
 * @throws {RotaError} `ERR_ROTA_CONFIG` when it is not JSON, or too large.
 */
export function parseConfig(text: string, path: string): unknown {
  checkSize(text, `configuration file '${path}'`);
  try {
    return parseJsonText(text);
  } catch (error) {
    throw new RotaError("ERR_ROTA_CONFIG", `Cannot read configuration file '${path}': ${describeError(error)}`, {
      cause: error,
    });
  }
}

/**
 * The supervisor's configuration.
 *
 * @example
 * ```ts
 * const store = new ConfigStore({ initial: { greeting: "hi" }, clock: systemClock, log });
 * const { version, failed } = await store.publish({ greeting: "hello" }, undefined, workers);
 * ```
 */
export class ConfigStore {
  #current: Versioned;
  #persist: ((text: string) => Promise<void>) | undefined;
  #clock: Clock;
  #ackTimeout: number;
  #log: Logger;
  #queue: Promise<unknown> = Promise.resolve();
  #broadcast: Broadcast | undefined;

  /** @param options The initial value and where to persist. */
  constructor(options: ConfigStoreOptions) {
    const { initial, persist, clock, ackTimeout = 10000, log } = options;
    this.#current = { version: 0, value: initial };
    this.#persist = persist;
    this.#clock = clock;
    this.#ackTimeout = ackTimeout;
    this.#log = log;
  }

  /** The current configuration: what new workers start with. */
  get current(): Versioned {
    return this.#current;
  }

  /**
   * Publish a new value, after every publish before it.
   *
   * @param value The new value (JSON).
   * @param ifVersion Only publish when the current version is this one.
   * @param targets Every live worker, read when this publish's turn comes.
   * @returns The new version and the workers that did not apply it.
   * @throws {RotaError} `ERR_ROTA_CONFIG_CONFLICT` when `ifVersion` is stale;
   * `ERR_ROTA_CONFIG` when the value is larger than {@linkcode MAX_CONFIG_BYTES}.
   */
  publish(value: unknown, ifVersion: number | undefined, targets: () => ConfigTarget[]): Promise<PublishResult> {
    const turn = this.#queue.then(async () => {
      if (ifVersion !== undefined && ifVersion !== this.#current.version) {
        throw new RotaError(
          "ERR_ROTA_CONFIG_CONFLICT",
          `Cannot publish configuration as 'ifVersion' is stale: current version is ${this.#current.version}, not ${ifVersion}`,
        );
      }
      const text = formatConfig(value);
      checkSize(text, "this configuration");
      if (this.#persist) await this.#persist(text);
      return await this.#send(value, targets());
    });
    this.#queue = turn.catch(() => {});
    return turn;
  }

  /**
   * Take a value read from the file (edited by hand, or SIGHUP): published
   * like any other when it differs from the current one.
   *
   * @param text The file's content.
   * @param path The file, for messages.
   * @param targets Every live worker.
   * @returns When it was sent and acknowledged, or ignored.
   */
  adoptFile(text: string, path: string, targets: () => ConfigTarget[]): Promise<void> {
    const turn = this.#queue.then(async () => {
      let value: unknown;
      try {
        value = parseConfig(text, path);
      } catch (error) {
        this.#log.error(`${describeError(error)}; keeping version ${this.#current.version}`);
        return;
      }
      if (formatConfig(value) === formatConfig(this.#current.value)) return;
      const { version, failed } = await this.#send(value, targets());
      this.#log.info(`configuration file changed: version ${version}`, { failed: failed.length });
    });
    this.#queue = turn.catch(() => {});
    return turn;
  }

  /**
   * A worker applied (or failed to apply) a version.
   *
   * @param key The worker.
   * @param version The version it reports.
   * @param ok Whether its `reload` hook succeeded.
   * @param message The hook's error, when it failed.
   */
  acknowledge(key: object, version: number, ok: boolean, message?: string): void {
    const broadcast = this.#broadcast;
    const target = broadcast?.waiting.get(key);
    if (!broadcast || !target || version !== broadcast.version) return;
    broadcast.waiting.delete(key);
    if (!ok) broadcast.failed.push({ ...label(target), reason: "reload-failed", message });
    if (broadcast.waiting.size === 0) broadcast.done();
  }

  /**
   * A worker exited: stop waiting for it.
   *
   * @param key The worker.
   */
  forget(key: object): void {
    const broadcast = this.#broadcast;
    const target = broadcast?.waiting.get(key);
    if (!broadcast || !target) return;
    broadcast.waiting.delete(key);
    broadcast.failed.push({ ...label(target), reason: "exited" });
    if (broadcast.waiting.size === 0) broadcast.done();
  }

  #send(value: unknown, targets: ConfigTarget[]): Promise<PublishResult> {
    const version = this.#current.version + 1;
    this.#current = { version, value };
    return new Promise<PublishResult>((resolve) => {
      const failed: ReloadFailure[] = [];
      const timer = this.#clock.setTimeout(() => {
        for (const target of broadcast.waiting.values()) failed.push({ ...label(target), reason: "timeout" });
        broadcast.waiting.clear();
        done();
      }, this.#ackTimeout);
      const done = () => {
        this.#clock.clearTimeout(timer);
        this.#broadcast = undefined;
        if (failed.length > 0) {
          this.#log.warn(`configuration version ${version}: ${failed.length} worker(s) did not apply it`, {
            failed: failed.map((f) => `${f.slot}.${f.generation}:${f.reason}`),
          });
        }
        resolve({ version, failed });
      };
      const broadcast: Broadcast = { version, waiting: new Map(targets.map((t) => [t.key, t])), failed, done };
      this.#broadcast = broadcast;
      for (const target of targets) target.send({ rota: 1, type: "config", version, value });
      if (targets.length === 0) done();
    });
  }
}

function label(target: ConfigTarget): { slot: number; generation: number; pid: number } {
  return { slot: target.slot, generation: target.generation, pid: target.pid };
}
