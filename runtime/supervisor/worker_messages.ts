/**
 * What a worker says, and how the supervisor answers: each message from a
 * worker is checked (a malformed one is ignored, with a few warnings a second
 * at most), then dispatched: progress through its life goes to the worker's
 * transition function, heartbeats to the watchdog and the request counters,
 * a configuration it publishes to the configuration store (and the result
 * back to it), its acknowledgements of a configuration to the store, and a
 * recycle it asks for (or its draining on its own) to recycling. The first worker that listens has the
 * rota announce its address.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { describeError, RotaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseWorkerMessage, type WorkerMessage } from "../protocol.ts";
import { WarningThrottle } from "../warning_throttle.ts";
import type { ConfigStore } from "./config_store.ts";
import type { Recycling } from "./recycling.ts";
import type { SnapshotSource } from "./snapshot_source.ts";
import type { Watchdog } from "./watchdog.ts";
import type { WorkerExits } from "./worker_exit.ts";
import { identity, type WorkerEvent, type WorkerRecord } from "./worker_record.ts";

/** What a worker's messages ask of the supervisor. */
export interface MessageSupervisor {
  /** The supervisor's transition function for a worker: applies the event and reacts to the change. */
  apply(worker: WorkerRecord, event: WorkerEvent): ReturnType<WorkerRecord["apply"]>;
  /** Whether the worker is its slot's replacement, not yet serving it. */
  isReplacement(worker: WorkerRecord): boolean;
}

/** Options for {@linkcode WorkerMessages}. */
export interface WorkerMessagesOptions {
  /** Where the supervisor speaks. */
  log: Logger;
  /** The clock the malformed-message warnings are throttled on. */
  clock: Clock;
  /** Where the rota listens, announced once. */
  address: { readonly hostname: string; readonly port: number };
  /** The shared configuration. */
  config: ConfigStore;
  /** The counters, histograms and timeline. */
  ops: SnapshotSource;
  /** The heartbeats' deadlines. */
  watchdog: Watchdog<WorkerRecord>;
  /** A worker that asks to be recycled, or drains on its own, is replaced. */
  recycling: Recycling;
  /** A replacement whose init ignores its abort signal is killed. */
  exits: Pick<WorkerExits, "initHung">;
  /** The supervisor, for its verbs. */
  supervisor: MessageSupervisor;
}

/**
 * A worker's messages, heard and answered.
 *
 * @example
 * ```ts
 * const messages = new WorkerMessages({ log, clock, address, config, ops, watchdog, recycling, exits, supervisor });
 * messages.receive(worker, { rota: 1, type: "loaded" });
 * ```
 */
export class WorkerMessages {
  #log: Logger;
  #address: { readonly hostname: string; readonly port: number };
  #config: ConfigStore;
  #ops: SnapshotSource;
  #watchdog: Watchdog<WorkerRecord>;
  #recycling: Recycling;
  #exits: Pick<WorkerExits, "initHung">;
  #supervisor: MessageSupervisor;
  #throttle: WarningThrottle;
  #listeningAnnounced = false;

  /** @param options The log, the clock, the address, the collaborators, and the supervisor. */
  constructor(options: WorkerMessagesOptions) {
    const { log, clock, address, config, ops, watchdog, recycling, exits, supervisor } = options;
    this.#log = log;
    this.#address = address;
    this.#config = config;
    this.#ops = ops;
    this.#watchdog = watchdog;
    this.#recycling = recycling;
    this.#exits = exits;
    this.#supervisor = supervisor;
    this.#throttle = new WarningThrottle({ log, clock });
  }

  /**
   * A worker sent a message: check it and answer it.
   *
   * @param worker Who sent it.
   * @param raw The message as it arrived.
   */
  receive(worker: WorkerRecord, raw: unknown): void {
    const parsed = parseWorkerMessage(raw);
    if (!parsed.ok) {
      this.#throttle.warn(worker.name, `ignored a malformed message from ${worker.name}: ${parsed.reason}`);
      return;
    }
    this.#handle(worker, parsed.message);
  }

  /** Report the malformed messages still suppressed, and stop the warnings' timers (the rota stopped). */
  flushWarnings(): void {
    this.#throttle.flush();
  }

  #handle(worker: WorkerRecord, message: WorkerMessage): void {
    switch (message.type) {
      case "hello":
        return worker.greeted();
      case "hold":
        return worker.hold();
      case "loaded":
        this.#supervisor.apply(worker, { type: "loaded" });
        return;
      case "paused":
        worker.greeted();
        this.#supervisor.apply(worker, { type: "paused" });
        return;
      case "draining":
        return this.#recycling.drainingOnItsOwn(worker, message.reason);
      case "listening":
        if (!this.#listeningAnnounced) {
          this.#listeningAnnounced = true;
          this.#log.info(`listening on http://${this.#address.hostname}:${this.#address.port}`, {
            event: "rota.listening",
          });
        }
        worker.greeted();
        // A version published while the worker was loading may have found no listener yet.
        if (worker.configVersion < this.#config.current.version) this.#sendConfig(worker);
        this.#supervisor.apply(worker, { type: "listening" });
        return;
      case "init-ok":
        this.#ops.initAttempt(worker, true, message.ms);
        this.#supervisor.apply(worker, { type: "init-ok" });
        return;
      case "init-failed": {
        this.#ops.initAttempt(worker, false, message.ms);
        this.#ops.event(identity(worker), "init-failed", message.code);
        const change = this.#supervisor.apply(worker, { type: "init-failed" });
        if (change?.to.kind === "failing" && change.from.kind !== "failing") {
          this.#log.warn(
            `${worker.name} is failing: init attempt ${message.attempt} failed (${message.code}); it stays up and retries`,
            { event: "worker.failing" },
          );
        }
        return;
      }
      case "init-hung":
        this.#log.error(`${worker.name}: init attempt ${message.attempt} ignores its abort signal`, {
          event: "init.hung",
        });
        if (this.#supervisor.isReplacement(worker)) this.#exits.initHung(worker);
        else this.#recycling.recycle(worker, "init-hung", `init attempt ${message.attempt} ignores its abort signal`);
        return;
      case "fatal":
        this.#supervisor.apply(worker, { type: "fatal", fatal: { code: message.code, message: message.message } });
        return;
      case "recycle":
        return this.#recycling.recycle(
          worker,
          message.reason === "max-memory" ? "max-memory" : "max-requests",
          message.detail,
        );
      case "publish":
        return this.#publish(worker, message.id, message.value, message.ifVersion);
      case "config-ack":
        worker.configVersion = Math.max(worker.configVersion, message.version);
        this.#config.acknowledge(worker, message.version, message.ok, message.message);
        return;
      case "heartbeat":
        this.#ops.requests(message.requestSeconds);
        return this.#watchdog.beat(worker, message);
    }
  }

  #sendConfig(worker: WorkerRecord): void {
    const { version, value } = this.#config.current;
    worker.send({ rota: 1, type: "config", version, value });
  }

  #publish(worker: WorkerRecord, id: number, value: unknown, ifVersion: number | undefined): void {
    this.#config.publish(value, ifVersion).then(
      ({ version, failed }) => {
        this.#ops.event(identity(worker), "config", `v${version}`);
        this.#log.info(`configuration version ${version} published by ${worker.name}`, { event: "config.published" });
        worker.send({ rota: 1, type: "publish-result", id, ok: true, version, failed: [...failed] });
      },
      (error) => {
        const code = error instanceof RotaError ? error.code : "ERR_ROTA_CONFIG";
        if (code !== "ERR_ROTA_CONFIG_CONFLICT") {
          const { version } = this.#config.current;
          this.#log.error(
            `${describeError(error)}; the publish by ${worker.name} was refused, version stays ${version}`,
            { event: "config.rejected" },
          );
        }
        worker.send({ rota: 1, type: "publish-result", id, ok: false, code, message: describeError(error) });
      },
    );
  }
}
