/**
 * Recycling: replacing a worker that still serves, and counting why. A worker
 * is recycled when it lived `--max-lifetime` (staggered over the slots), when
 * it asks to be (max requests, its own memory check), when an init attempt
 * hangs, when it passed `--max-memory` (replacement first, through the
 * rollout), or passed the hard memory limit (replaced at once), and when it
 * drains on its own (told so by someone else: replaced as a recycle, not a
 * crash). A rolling reload asks the rollout itself.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ResolvedOptions } from "../options.ts";
import { hardMemoryLimit } from "./memory_watch.ts";
import type { Phase } from "./phase.ts";
import type { Rollout } from "./rollout.ts";
import type { RecycleReason, SnapshotSource } from "./snapshot_source.ts";
import type { Slot, Succession } from "./succession.ts";
import { stagger } from "./worker_spec.ts";
import { identity, isListening, isServing, type WorkerEvent, type WorkerRecord } from "./worker_record.ts";

/** What recycling asks of the supervisor. */
export interface RecyclingSupervisor {
  /** The rota's phase now. */
  phase(): Phase["kind"];
  /** The supervisor's transition function for a worker: applies the event and reacts to the change. */
  apply(worker: WorkerRecord, event: WorkerEvent): ReturnType<WorkerRecord["apply"]>;
  /** Tell a worker to drain, and kill it should it outlive the graceful timeout. */
  drain(worker: WorkerRecord): void;
  /** Kill a draining worker should it outlive the graceful timeout. */
  killAfterGrace(worker: WorkerRecord): void;
  /** Start a worker for `slot` as its `active` one or its `incoming` replacement; false when it could not. */
  spawn(slot: Slot, role: "active" | "incoming"): boolean;
  /** Tell every worker how many others are ready, when that changed (here: a slot turned urgent). */
  tellPeers(): void;
}

/** Options for {@linkcode Recycling}. */
export interface RecyclingOptions {
  /** Where recycles are told. */
  log: Logger;
  /** The limits: `maxLifetime` (staggered over `workers` slots) and `maxMemory`. */
  limits: Pick<ResolvedOptions, "maxLifetime" | "maxMemory" | "workers">;
  /**
   * How long after a worker said it drains on its own its replacement starts:
   * long enough for a signal sent to the whole process group to reach the
   * supervisor too.
   */
  ownDrainGrace: number;
  /** The rota's slots, by index. */
  slots: readonly Slot[];
  /** Every live worker. */
  live: ReadonlySet<WorkerRecord>;
  /** The counters and the timeline (recycles by reason). */
  ops: SnapshotSource;
  /** Replacement-first recycling, at most `maxSurge` at a time. */
  rollout: Rollout;
  /** Who serves a slot next. */
  succession: Succession;
  /** The supervisor, for its phase and its verbs. */
  supervisor: RecyclingSupervisor;
}

/**
 * The reasons a serving worker is replaced, each acted on.
 *
 * @example
 * ```ts
 * const recycling = new Recycling({ log, limits, ownDrainGrace, slots, live, ops, rollout, succession, supervisor });
 * recycling.recycle(worker, "max-requests", "served 10000 requests");
 * ```
 */
export class Recycling {
  #log: Logger;
  #limits: Pick<ResolvedOptions, "maxLifetime" | "maxMemory" | "workers">;
  #ownDrainGrace: number;
  #slots: readonly Slot[];
  #live: ReadonlySet<WorkerRecord>;
  #ops: SnapshotSource;
  #rollout: Rollout;
  #succession: Succession;
  #supervisor: RecyclingSupervisor;

  /** @param options The log, the limits, the slots, the collaborators, and the supervisor. */
  constructor(options: RecyclingOptions) {
    const { log, limits, ownDrainGrace, slots, live, ops, rollout, succession, supervisor } = options;
    this.#log = log;
    this.#limits = limits;
    this.#ownDrainGrace = ownDrainGrace;
    this.#slots = slots;
    this.#live = live;
    this.#ops = ops;
    this.#rollout = rollout;
    this.#succession = succession;
    this.#supervisor = supervisor;
  }

  /**
   * Replace a slot's active worker, replacement first, and count why.
   *
   * @param worker The worker; one that is not its slot's active, serving worker is left alone.
   * @param reason Why, for the counters.
   * @param why Why, for the log line.
   */
  recycle(worker: WorkerRecord, reason: RecycleReason, why: string): void {
    if (this.#slots[worker.slot].active !== worker || !isServing(worker.state)) return;
    this.#log.info(`recycling ${worker.name}: ${why}`, { event: "recycle", reason });
    this.#ops.recycle(identity(worker), reason);
    this.#rollout.request(worker.slot);
  }

  /**
   * A worker became ready for the first time: recycle it once it lived
   * `--max-lifetime`, staggered over the slots so that they never all recycle at once.
   *
   * @param worker The worker.
   */
  firstReady(worker: WorkerRecord): void {
    const { maxLifetime, workers } = this.#limits;
    if (maxLifetime <= 0) return;
    const lifetime = stagger(maxLifetime, maxLifetime / 10, worker.slot, workers);
    worker.setTimer(lifetime, () => this.recycle(worker, "max-lifetime", `lived ${lifetime}ms (max lifetime)`));
  }

  /**
   * A worker drains because it was told so by someone else (a signal to it, a lost supervisor).
   *
   * @param worker The worker.
   * @param reason What it said, for the log line.
   */
  drainingOnItsOwn(worker: WorkerRecord, reason: string): void {
    const change = this.#supervisor.apply(worker, { type: "drain" });
    if (!change) return;
    this.#log.warn(`${worker.name} is draining on its own (${reason})`, { event: "worker.draining" });
    this.#supervisor.killAfterGrace(worker);
    // Replace it as a recycle (not a crash: no back-off), after a moment: a signal sent to the whole
    // process group (Ctrl-C in a terminal) reaches the supervisor too, which then stops everything instead.
    // Counted now: it may exit before the replacement starts, and its slot is then filled without a request.
    if (this.#supervisor.phase() === "running" && this.#slots[worker.slot].active === worker) {
      this.#ops.recycle(identity(worker), "drained");
    }
    // The worker's own timer: once it exited (which a stop waits for) it is no longer its slot's worker, and
    // the timer is cancelled with it.
    worker.setTimer(this.#ownDrainGrace, () => {
      if (this.#supervisor.phase() === "running" && this.#slots[worker.slot].active === worker) {
        this.#rollout.request(worker.slot);
      }
    });
  }

  /**
   * A worker passed a memory limit. Soft: recycle it, replacement first.
   * Hard: it must stop taking connections now. When another worker is ready
   * it drains at once and a new worker starts; when it is the only one
   * serving (its closing would close the shared socket, refusing
   * connections), a replacement starts listening at once, before its init
   * finished, and takes over as soon as it listens.
   *
   * @param worker The worker.
   * @param level Which limit it passed.
   * @param rss Its resident memory, in bytes.
   */
  overMemory(worker: WorkerRecord, level: "soft" | "hard", rss: number): void {
    const slot = this.#slots[worker.slot];
    if (slot.active !== worker || !isServing(worker.state) || this.#supervisor.phase() !== "running") return;
    const uses = `${worker.name} uses ${mebibytes(rss)}MB`;
    if (level === "soft") {
      this.#log.warn(`${uses}, above --max-memory ${mebibytes(this.#limits.maxMemory)}MB: recycling`, {
        event: "recycle",
        reason: "max-memory",
      });
      this.#ops.recycle(identity(worker), "max-memory");
      this.#rollout.request(slot.index);
      return;
    }
    this.#log.warn(
      `${uses}, above the hard limit of ${mebibytes(hardMemoryLimit(this.#limits.maxMemory))}MB: replacing it now`,
      { event: "recycle", reason: "hard-memory-limit" },
    );
    this.#ops.recycle(identity(worker), "hard-memory-limit");
    const othersServe = [...this.#live].some((other) => other !== worker && other.state.kind === "ready");
    if (othersServe) {
      slot.active = undefined;
      this.#supervisor.drain(worker);
      if (this.#succession.adopt(slot)) return;
      this.#rollout.cancel(slot.index);
      this.#supervisor.spawn(slot, "active");
      return;
    }
    slot.urgent = true;
    if (slot.incoming && isListening(slot.incoming.state)) return this.#succession.promote(slot);
    if (slot.incoming) return this.#supervisor.tellPeers();
    this.#rollout.cancel(slot.index);
    this.#supervisor.spawn(slot, "incoming");
  }
}

function mebibytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
