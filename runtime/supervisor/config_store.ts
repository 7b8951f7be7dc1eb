/**
 * The configuration store: the supervisor owns `{ version, value }`, applies
 * publishes one at a time (with optional compare-and-set on `ifVersion`),
 * writes each new value back to the `--app-config` file when there is one, sends
 * it to every live worker, and settles the publish once every one of them has
 * run its `reload` hook, or with the list of those that did not.
 *
 * Edits of the file are taken in turn with publishes: the file is read when
 * its turn comes, never earlier, so a read can never be older than a publish
 * that was committed before it and then be published over it.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { describeError, RotaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { PublishResult, ReloadFailure, SupervisorMessage, Versioned } from "../protocol.ts";
import { checkConfigSize, type ConfigFile, formatConfig } from "./config_file.ts";

/** A worker a configuration is sent to. */
export interface ConfigTarget {
  /** Identity of the worker, for acknowledgements. */
  readonly key: object;
  readonly slot: number;
  readonly generation: number;
  readonly pid: number;
  send(message: SupervisorMessage): void;
}

/** Options for {@linkcode ConfigStore}. */
export interface ConfigStoreOptions {
  /** The initial value. */
  initial: unknown;
  /**
   * The initial version. Versions count up by one per change from here; the
   * default, the time in milliseconds since 1970, makes them unique across
   * restarts, so that an `ifVersion` taken before a restart cannot match a
   * version of the next run by accident. @default {Date.now()}
   */
  initialVersion?: number;
  /** The file the value came from, written back on every publish; none when it came from code. */
  file?: ConfigFile;
  /** Every live worker, read when a broadcast starts. */
  targets: () => ConfigTarget[];
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
 * The supervisor's configuration.
 *
 * @example
 * ```ts
 * const store = new ConfigStore({ initial: { greeting: "hi" }, targets: () => workers, clock, log });
 * const { version, failed } = await store.publish({ greeting: "hello" });
 * ```
 */
export class ConfigStore {
  #current: Versioned;
  #file: ConfigFile | undefined;
  #targets: () => ConfigTarget[];
  #clock: Clock;
  #ackTimeout: number;
  #log: Logger;
  #queue: Promise<unknown> = Promise.resolve();
  #broadcast: Broadcast | undefined;

  /** @param options The initial value, the file, and who to send to. */
  constructor(options: ConfigStoreOptions) {
    const { initial, initialVersion = Date.now(), file, targets, clock, ackTimeout = 10000, log } = options;
    this.#current = { version: initialVersion, value: initial };
    this.#file = file;
    this.#targets = targets;
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
   * @returns The new version and the workers that did not apply it.
   * @throws {RotaError} `ERR_ROTA_CONFIG_CONFLICT` when `ifVersion` is stale;
   * `ERR_ROTA_CONFIG` when the value is too large or cannot be written back.
   */
  publish(value: unknown, ifVersion?: number): Promise<PublishResult> {
    return this.#inTurn(async () => {
      if (ifVersion !== undefined && ifVersion !== this.#current.version) {
        throw new RotaError(
          "ERR_ROTA_CONFIG_CONFLICT",
          `Cannot publish configuration as 'ifVersion' is stale: current version is ${this.#current.version}, not ${ifVersion}`,
        );
      }
      checkConfigSize(formatConfig(value), "this configuration");
      if (this.#file) await this.#file.write(value);
      return await this.#send(value);
    });
  }

  /**
   * Re-read the file (edited by hand, or SIGHUP) when its turn comes, and
   * publish what it holds when it differs from the current value. A malformed
   * file is logged and ignored. Without a file, nothing happens.
   *
   * @returns When it was sent and acknowledged, or ignored.
   */
  refresh(): Promise<void> {
    const file = this.#file;
    if (!file) return Promise.resolve();
    return this.#inTurn(async () => {
      let value: unknown;
      try {
        value = await file.read();
      } catch (error) {
        this.#log.error(`${describeError(error)}; keeping version ${this.#current.version}`);
        return;
      }
      if (formatConfig(value) === formatConfig(this.#current.value)) return;
      const { version, failed } = await this.#send(value);
      this.#log.info(`configuration file changed: version ${version}`, { failed: failed.length });
    });
  }

  /**
   * Refresh whenever the file changes on disk.
   *
   * @returns The teardown; a no-op without a file.
   */
  watch(): () => void {
    return this.#file?.watch(() => void this.refresh()) ?? (() => {});
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

  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#queue.then(work);
    this.#queue = turn.catch(() => {});
    return turn;
  }

  #send(value: unknown): Promise<PublishResult> {
    const version = this.#current.version + 1;
    this.#current = { version, value };
    const targets = this.#targets();
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
