/**
 * A slot's succession: which worker serves a slot next. A ready replacement
 * is promoted and its predecessor drains; a replacement whose predecessor
 * left first is adopted, ready or not; a failed replacement is retried after
 * the rollout's back-off while the old worker keeps serving; a slot whose
 * worker crashed is respawned after the restart policy's back-off (or the
 * rota gives up); and a slot left with nobody is filled at once.
 *
 * Starting, draining and stopping stay with the supervisor, which this asks
 * through {@linkcode SuccessionSupervisor}.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { RotaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Phase, Stop } from "./phase.ts";
import { type CrashHistory, decideRestart, type RestartPolicy } from "./restart_policy.ts";
import type { Rollout } from "./rollout.ts";
import type { SnapshotSource } from "./snapshot_source.ts";
import type { WorkerRecord } from "./worker_record.ts";

/** One of the rota's `workers` places: the worker serving it, its replacement, and its crashes. */
export interface Slot {
  readonly index: number;
  /** The generation the next worker of this slot gets. */
  nextGeneration: number;
  active: WorkerRecord | undefined;
  incoming: WorkerRecord | undefined;
  /** The active worker passed the hard memory limit: its replacement takes over as soon as it listens. */
  urgent: boolean;
  crashes: CrashHistory;
  respawn: TimerHandle | undefined;
}

/** What a slot's succession asks of the supervisor. */
export interface SuccessionSupervisor {
  /** The rota's phase now. */
  phase(): Phase["kind"];
  /** Start a worker for `slot` as its `active` one or its `incoming` replacement; false when it could not. */
  spawn(slot: Slot, role: "active" | "incoming"): boolean;
  /** Tell a worker to drain, and kill it should it outlive the graceful timeout. */
  drain(worker: WorkerRecord): void;
  /** The supervisor's one stop path (here: giving up after too many crashes). */
  stop(how: Stop): Promise<number>;
  /** A slot's new worker serves, or its replacement failed: the reload may be over. */
  settleReload(slot: number, generation: number, outcome: "serving" | "failed"): void;
}

/** Options for {@linkcode Succession}. */
export interface SuccessionOptions {
  /** Where successions are told. */
  log: Logger;
  /** The clock respawn back-offs run on. */
  clock: Clock;
  /** When to respawn after a crash, or give up. */
  policy: RestartPolicy;
  /** The replacements under way, told how each ended. */
  rollout: Rollout;
  /** The counters and the timeline (restarts per slot). */
  ops: SnapshotSource;
  /** The supervisor, for its phase and its verbs. */
  supervisor: SuccessionSupervisor;
}

/**
 * Who serves each slot next, and how many replacements took over.
 *
 * @example
 * ```ts
 * const succession = new Succession({ log, clock, policy, rollout, ops, supervisor });
 * succession.promote(slot); // its ready replacement now serves; the old worker drains
 * ```
 */
export class Succession {
  #log: Logger;
  #clock: Clock;
  #policy: RestartPolicy;
  #rollout: Rollout;
  #ops: SnapshotSource;
  #supervisor: SuccessionSupervisor;
  #replacements = 0;

  /** @param options The log, the clock, the policies, and the supervisor. */
  constructor(options: SuccessionOptions) {
    const { log, clock, policy, rollout, ops, supervisor } = options;
    this.#log = log;
    this.#clock = clock;
    this.#policy = policy;
    this.#rollout = rollout;
    this.#ops = ops;
    this.#supervisor = supervisor;
  }

  /** Workers replaced by a ready replacement (recycling, reloads). */
  get replacements(): number {
    return this.#replacements;
  }

  /**
   * The slot's replacement is ready (or, for an urgent slot, listens): it
   * becomes the slot's worker, and the one it replaces drains.
   *
   * @param slot The slot.
   */
  promote(slot: Slot): void {
    const incoming = slot.incoming;
    if (!incoming) return;
    const outgoing = slot.active;
    slot.active = incoming;
    slot.incoming = undefined;
    slot.urgent = false;
    this.#replacements++;
    this.#log.info(`${incoming.name} is ready and replaces ${outgoing ? outgoing.name : "nobody"}`, {
      event: "worker.replaced",
    });
    if (outgoing) this.#supervisor.drain(outgoing);
    this.#rollout.promoted(slot.index);
  }

  /**
   * The slot's active worker is gone while its replacement starts: the
   * replacement becomes the slot's worker now, ready or not. One that drains
   * (it was not ready in time, or was told to stop) may not: it is let go as a
   * failed replacement, and the slot goes on as if it had none.
   *
   * @param slot The slot, whose `active` is already gone.
   * @returns Whether a replacement took over.
   */
  adopt(slot: Slot): boolean {
    const incoming = slot.incoming;
    if (!incoming) return false;
    if (incoming.state.kind === "draining") {
      slot.incoming = undefined;
      this.replacementFailed(slot, incoming.generation);
      return false;
    }
    slot.active = incoming;
    slot.incoming = undefined;
    slot.urgent = false;
    this.#rollout.adopted(slot.index);
    return true;
  }

  /**
   * Give a slot that has no worker, no replacement and no respawn waiting a
   * worker now: no path may leave a slot empty (with one worker, an empty slot
   * would end the rota with nothing to wait for).
   *
   * @param slot The slot.
   */
  fill(slot: Slot): void {
    const phase = this.#supervisor.phase();
    if (phase !== "running" && phase !== "starting") return;
    if (slot.active || slot.incoming || slot.respawn !== undefined) return;
    this.#rollout.cancel(slot.index);
    this.#supervisor.spawn(slot, "active");
  }

  /**
   * A replacement failed (crashed, killed, or refused): the active worker
   * keeps serving; try again later.
   *
   * @param slot The slot.
   * @param generation The failed replacement's generation.
   */
  replacementFailed(slot: Slot, generation: number): void {
    const { failures, wait } = this.#rollout.failed(slot.index);
    if (failures > 1) {
      this.#log.warn(`slot ${slot.index}: retrying in ${wait}ms after ${failures} failures`, {
        event: "worker.retry",
      });
    }
    this.#supervisor.settleReload(slot.index, generation, "failed");
  }

  /**
   * The slot's active worker crashed (or could not be started, or was killed
   * by the watchdog): respawn after a back-off, or give up. `waited` is time
   * already spent waiting on this worker (a watchdog's timeout), taken off
   * the back-off: a wedge is a kill, not a crash loop, and it already cost
   * the slot that long.
   *
   * @param slot The slot, whose `active` is already gone.
   * @param readyAt When the worker that crashed first became ready; `undefined` when it never was.
   * @param waited Milliseconds already spent on it, taken off the back-off.
   */
  respawnAfterCrash(slot: Slot, readyAt: number | undefined, waited = 0): void {
    const now = this.#clock.now();
    const decision = decideRestart(slot.crashes, { readyAt }, now, this.#policy);
    slot.crashes = decision.history;
    if (decision.kind === "give-up") {
      const why = `slot ${slot.index} ${decision.reason}: giving up`;
      this.#log.error(`${why}, exit code 1, for the service manager to restart rota`, { event: "rota.gave-up" });
      void this.#supervisor.stop({ code: 1, force: false, error: new RotaError("ERR_ROTA_STARTUP_FAILED", why) });
      return;
    }
    const { consecutive } = decision.history;
    const after = Math.max(0, Math.round(decision.after - waited));
    this.#ops.restart(slot.index);
    if (consecutive > 1 && after > 0) {
      this.#log.warn(`slot ${slot.index}: retrying in ${after}ms after ${consecutive} failures`, {
        event: "worker.retry",
      });
    }
    this.#rollout.cancel(slot.index);
    this.#clock.clearTimeout(slot.respawn);
    slot.respawn = undefined;
    if (after === 0) {
      this.#supervisor.spawn(slot, "active");
      return;
    }
    slot.respawn = this.#clock.setTimeout(() => {
      slot.respawn = undefined;
      const phase = this.#supervisor.phase();
      if (phase === "running" || phase === "starting") this.#supervisor.spawn(slot, "active");
    }, after);
  }
}
