/**
 * The worker's side of the shared configuration: the view requests and hooks
 * read (`env.config`), `publish()` as a request to the supervisor, and the
 * ordering of `reload` hooks as versions arrive.
 *
 * @module
 */

import type { ConfigView } from "../app.ts";
import { describeError, isRotaErrorCode, RotaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { PublishResult, SupervisorMessage, Versioned, WorkerMessage } from "../protocol.ts";

/** Options for {@linkcode ConfigClient}. */
export interface ConfigClientOptions {
  /** The version the worker was spawned with. */
  initial: Versioned;
  /** Send a message to the supervisor. */
  send(message: WorkerMessage): void;
  /**
   * Run the app's `reload` hook for the current value; `undefined` when there
   * is nothing to reload (no hook, or init has not succeeded: a later init
   * reads the current value anyway).
   */
  reload(): Promise<void> | undefined;
  /** Where failures are logged. */
  log: Logger;
}

type PublishResultMessage = Extract<SupervisorMessage, { type: "publish-result" }>;

/** One worker's configuration client. */
export class ConfigClient {
  /** What requests and hooks see as `config`. */
  readonly view: ConfigView;
  #current: Versioned;
  #send: (message: WorkerMessage) => void;
  #reload: () => Promise<void> | undefined;
  #log: Logger;
  #publishes = new Map<number, { resolve: (result: PublishResult) => void; reject: (error: unknown) => void }>();
  #lastId = 0;
  #abandoned = false;
  /** `reload` hooks run one after another, in the order versions arrive. */
  #reloads: Promise<void> = Promise.resolve();

  /** @param options The initial version, the channel, and the reload hook. */
  constructor(options: ConfigClientOptions) {
    const { initial, send, reload, log } = options;
    this.#current = initial;
    this.#send = send;
    this.#reload = reload;
    this.#log = log;
    const current = () => this.#current;
    this.view = {
      get: () => current().value,
      get version() {
        return current().version;
      },
      publish: (next, options = {}) => this.#publish(next, options.ifVersion),
    };
  }

  /**
   * Take a version from the supervisor: visible to requests at once, then
   * `reload` runs, then the supervisor hears back. Old or repeated versions
   * are acknowledged only.
   *
   * @param version The version.
   * @param value Its value.
   */
  apply(version: number, value: unknown): void {
    const fresh = version > this.#current.version;
    if (fresh) this.#current = { version, value };
    this.#reloads = this.#reloads.then(async () => {
      try {
        const reloading = fresh ? this.#reload() : undefined;
        await reloading;
        this.#send({ rota: 1, type: "config-ack", version, ok: true });
      } catch (error) {
        const message = describeError(error);
        this.#log.error(`reload hook failed for version ${version}: ${message}`);
        this.#send({ rota: 1, type: "config-ack", version, ok: false, message });
      }
    });
  }

  /**
   * Settle the publish the supervisor answered.
   *
   * @param message The supervisor's answer.
   */
  settle(message: PublishResultMessage): void {
    const { id, ok, version, failed, code } = message;
    const pending = this.#publishes.get(id);
    if (!pending) return;
    this.#publishes.delete(id);
    if (ok) return pending.resolve({ version: version ?? this.#current.version, failed: failed ?? [] });
    // Checked: the code crossed the IPC channel.
    pending.reject(
      new RotaError(isRotaErrorCode(code) ? code : "ERR_ROTA_CONFIG", message.message ?? "publish failed"),
    );
  }

  /**
   * The supervisor went away: every publish still waiting for its answer
   * rejects with `ERR_ROTA_CONFIG`, and so does every later one.
   */
  abandon(): void {
    this.#abandoned = true;
    const waiting = [...this.#publishes.values()];
    this.#publishes.clear();
    for (const pending of waiting) pending.reject(supervisorGone());
  }

  #publish(value: unknown, ifVersion: number | undefined): Promise<PublishResult> {
    if (this.#abandoned) return Promise.reject(supervisorGone());
    let copy: unknown;
    try {
      copy = JSON.parse(JSON.stringify(value));
    } catch (error) {
      return Promise.reject(new TypeError(`Cannot publish configuration as it is not JSON: ${describeError(error)}`));
    }
    if (copy === undefined || typeof copy === "string") {
      return Promise.reject(
        new TypeError("Cannot publish configuration as it must be a JSON value other than a string"),
      );
    }
    if (ifVersion !== undefined && !Number.isInteger(ifVersion)) {
      return Promise.reject(
        new TypeError(`Cannot publish configuration as 'ifVersion' must be an integer: current value is ${ifVersion}`),
      );
    }
    const id = ++this.#lastId;
    return new Promise<PublishResult>((resolve, reject) => {
      this.#publishes.set(id, { resolve, reject });
      this.#send({ rota: 1, type: "publish", id, value: copy, ...(ifVersion === undefined ? {} : { ifVersion }) });
    });
  }
}

function supervisorGone(): RotaError {
  return new RotaError("ERR_ROTA_CONFIG", "Cannot publish configuration as the supervisor went away");
}
