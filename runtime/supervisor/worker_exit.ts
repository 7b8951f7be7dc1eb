/**
 * A worker's end: the exits the supervisor reaps and the kills it decides.
 * An exit is reaped (the worker leaves the rota), counted when it was a
 * crash, reported in one log line that says how it ended, and followed by
 * what its slot needs (see `succession.ts`). A kill is the watchdog's (the
 * heartbeats stopped) or the startup timeout's (not up, or a replacement not
 * ready, in time); it goes through the worker's transition function, so that
 * its exit is known as a kill, not a crash, and its slot is seen to at once.
 *
 * @module
 */

import { isRotaErrorCode, RotaError } from "../errors.ts";
import type { ProcessExit } from "../host.ts";
import type { LogFields, Logger } from "../log.ts";
import type { HeartbeatMessage } from "../protocol.ts";
import { isStopping, type Phase, type Stop } from "./phase.ts";
import type { Slot, Succession } from "./succession.ts";
import { describeActivity } from "./watchdog.ts";
import { isListening, isServing, type WorkerEvent, type WorkerExit, type WorkerRecord } from "./worker_record.ts";

/** What a worker's end asks of the supervisor. */
export interface ExitSupervisor {
  /** The rota's phase now. */
  phase(): Phase["kind"];
  /** The supervisor's transition function for a worker: applies the event and reacts to the change. */
  apply(worker: WorkerRecord, event: WorkerEvent): ReturnType<WorkerRecord["apply"]>;
  /** Forget a worker whose process is gone: no longer live, awaited for a configuration, or watched. */
  release(worker: WorkerRecord): void;
  /** Tell a worker to drain, and kill it should it outlive the graceful timeout. */
  drain(worker: WorkerRecord): void;
  /** The supervisor's one stop path (here: a worker that cannot serve while the rota starts). */
  stop(how: Stop): Promise<number>;
  /** A stopping rota whose last worker is gone has stopped. */
  settleIfEmpty(): void;
}

/** Options for {@linkcode WorkerExits}. */
export interface WorkerExitsOptions {
  /** Where exits and kills are told. */
  log: Logger;
  /** `--startup-timeout`, in milliseconds, for the log line of a worker that was late. */
  startupTimeout: number;
  /** The rota's slots, by index. */
  slots: readonly Slot[];
  /** Every live worker. */
  live: ReadonlySet<WorkerRecord>;
  /** Who serves a slot next. */
  succession: Succession;
  /** The supervisor, for its phase and its verbs. */
  supervisor: ExitSupervisor;
}

/**
 * The reactions to a worker's end, and the counts of crashes and watchdog kills.
 *
 * @example
 * ```ts
 * const exits = new WorkerExits({ log, startupTimeout, slots, live, succession, supervisor });
 * exits.exited(worker, { code: 1, signal: null }); // reaped, counted, reported, its slot seen to
 * ```
 */
export class WorkerExits {
  #log: Logger;
  #startupTimeout: number;
  #slots: readonly Slot[];
  #live: ReadonlySet<WorkerRecord>;
  #succession: Succession;
  #supervisor: ExitSupervisor;
  #crashes = 0;
  #watchdogKills = 0;

  /** @param options The log, the slots, the live workers, the succession, and the supervisor. */
  constructor(options: WorkerExitsOptions) {
    const { log, startupTimeout, slots, live, succession, supervisor } = options;
    this.#log = log;
    this.#startupTimeout = startupTimeout;
    this.#slots = slots;
    this.#live = live;
    this.#succession = succession;
    this.#supervisor = supervisor;
  }

  /** Unexpected worker exits. */
  get crashes(): number {
    return this.#crashes;
  }

  /** Workers killed by the watchdog because their heartbeats stopped. */
  get watchdogKills(): number {
    return this.#watchdogKills;
  }

  /**
   * A worker's process exited: reap it, count and report it, and see to its slot.
   *
   * @param worker The worker.
   * @param exit How its process ended.
   */
  exited(worker: WorkerRecord, exit: ProcessExit): void {
    const slot = this.#slots[worker.slot];
    const wasIncoming = slot.incoming === worker;
    const wasActive = slot.active === worker;
    this.#supervisor.apply(worker, { type: "exit", exit });
    const { state } = worker;
    if (state.kind !== "exited") return;
    this.#supervisor.release(worker);
    if (wasActive) slot.active = undefined;
    if (wasIncoming) slot.incoming = undefined;
    const { ended } = state;
    if (ended.kind === "crashed") this.#crashes++;
    this.#report(worker, ended);

    if (isStopping(this.#supervisor.phase())) return this.#supervisor.settleIfEmpty();
    // A killed worker's slot was seen to when it was killed.
    if (ended.kind === "killed") return;
    if (ended.kind === "retired") {
      // A replacement that left before it was ready (it drained on its own, or was drained at its deadline): try again.
      if (wasIncoming) return this.#succession.replacementFailed(slot, worker.generation);
      // The slot's own worker left (it drained on its own) before a replacement took over: the replacement becomes
      // the slot's worker now, ready or not, or a new one starts at once.
      if (wasActive && this.#succession.adopt(slot)) return;
      return this.#succession.fill(slot);
    }
    if (this.#supervisor.phase() === "starting" && ended.fatal) {
      // The code came over IPC from another process: one that is not rota's own reads as a failed start.
      const { code, message } = ended.fatal;
      const error = new RotaError(isRotaErrorCode(code) ? code : "ERR_ROTA_STARTUP_FAILED", message);
      return void this.#supervisor.stop({ code: 0, force: false, error });
    }
    if (wasIncoming) return this.#succession.replacementFailed(slot, worker.generation);
    if (wasActive) {
      if (this.#succession.adopt(slot)) return;
      this.#succession.respawnAfterCrash(slot, worker.readyAt);
    }
  }

  /**
   * A worker's heartbeats stopped: kill it, count it, and see to its slot at once.
   *
   * @param worker The worker.
   * @param silentMs How long it has been silent.
   * @param last Its last heartbeat, which says what it was doing.
   */
  overdue(worker: WorkerRecord, silentMs: number, last: HeartbeatMessage): void {
    if (!this.#live.has(worker) || !this.#supervisor.apply(worker, { type: "kill", reason: "watchdog" })) return;
    this.#watchdogKills++;
    this.#log.error(
      `watchdog: ${worker.name} sent no heartbeat for ${silentMs}ms; killing it (it was ${
        describeActivity(last, silentMs)
      })`,
      { event: "worker.killed", reason: "watchdog" },
    );
    this.#seeToSlotOfKilled(worker, silentMs);
    worker.child.kill("SIGKILL");
  }

  /**
   * `--startup-timeout` bounds how long a worker may take to be up (its app
   * imported and its first init attempt started); a replacement must be
   * *ready* within it, since an old worker keeps serving its slot meanwhile.
   * A worker that is up is never killed for a slow or failing init: it
   * retries in place, answering 503 while no worker is ready.
   *
   * @param worker The worker whose `--startup-timeout` ran out.
   */
  startupTimedOut(worker: WorkerRecord): void {
    const incoming = this.#slots[worker.slot].incoming === worker;
    const late = incoming ? worker.state.kind !== "ready" : worker.state.kind === "loading";
    if (!late || !isServing(worker.state)) return;
    const what = incoming ? "ready" : "up (its app imported)";
    if (incoming && isListening(worker.state)) {
      // It took connections (no worker was ready): drained, not killed, so that what it accepted is answered.
      this.#log.error(`${worker.name} was not ${what} within ${this.#startupTimeout}ms; draining it`, {
        event: "worker.draining",
      });
      return this.#supervisor.drain(worker);
    }
    if (!this.#supervisor.apply(worker, { type: "kill", reason: "startup-timeout" })) return;
    this.#log.error(`${worker.name} was not ${what} within ${this.#startupTimeout}ms; killing it`, {
      event: "worker.killed",
      reason: "startup-timeout",
    });
    // A kill, not a crash: not counted in crashes; its slot is seen to as for a crash.
    this.#seeToSlotOfKilled(worker, 0);
    worker.child.kill("SIGKILL");
  }

  /**
   * A replacement's init ignores its abort signal: it would never be ready,
   * and it serves nobody yet (the slot's own worker does). Kill it, as a kill
   * and not a crash, and try the replacement again after a back-off.
   *
   * @param worker The replacement.
   */
  initHung(worker: WorkerRecord): void {
    if (!this.#supervisor.apply(worker, { type: "kill", reason: "init-hung" })) return;
    this.#seeToSlotOfKilled(worker, 0);
    worker.child.kill("SIGKILL");
  }

  #report(worker: WorkerRecord, ended: WorkerExit): void {
    const how = ended.exit.signal ? `signal ${ended.exit.signal}` : `code ${ended.exit.code}`;
    const fields: LogFields = { event: "worker.exit", exit: ended.kind };
    if ((ended.kind === "retired" && (ended.exit.code ?? 1) !== 0) || ended.kind === "killed") {
      // Killed by rota (the watchdog, the kill timer: said before), or by someone else while it drained (an OOM kill).
      this.#log.warn(`${worker.name} exited (${how})`, fields);
    } else if (ended.kind === "retired") {
      this.#log.info(`${worker.name} exited (${how})`, fields);
    } else if (ended.fatal) {
      this.#log.error(`${worker.name} cannot serve: ${ended.fatal.message}`, { ...fields, code: ended.fatal.code });
    } else {
      this.#log.error(`${worker.name} exited unexpectedly (${how})`, fields);
    }
  }

  /**
   * A worker is about to be killed: see to its slot first (its exit may be
   * reported while `kill` runs, and a killed worker's exit leaves the slot
   * alone). A replacement failed; an active worker is followed by its
   * replacement or respawned after a back-off, less the `waited` it already cost.
   */
  #seeToSlotOfKilled(worker: WorkerRecord, waited: number): void {
    const slot = this.#slots[worker.slot];
    if (slot.incoming === worker) {
      slot.incoming = undefined;
      this.#succession.replacementFailed(slot, worker.generation);
    } else if (slot.active === worker) {
      slot.active = undefined;
      if (this.#succession.adopt(slot)) return;
      if (!isStopping(this.#supervisor.phase())) this.#succession.respawnAfterCrash(slot, worker.readyAt, waited);
    }
  }
}
