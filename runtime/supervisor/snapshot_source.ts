/**
 * What the supervisor remembers for operations, and the snapshot it builds
 * from it: counters (recycles by reason, init attempts by result, restarts),
 * the request and init duration histograms (request durations arrive as
 * deltas in the workers' heartbeats, so those of workers long gone stay in
 * the totals), each worker's init attempts, and a ring of recent events for
 * the status page's timeline. The supervisor's own records (states, roles,
 * last heartbeats) are read when a snapshot is taken, never copied.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import {
  createHistogram,
  type Histogram,
  INIT_SECONDS_BOUNDS,
  mergeHistograms,
  observe,
  REQUEST_SECONDS_BOUNDS,
} from "../ops/histogram.ts";
import {
  EVENT_LIMIT,
  pushEvent,
  type RotaEvent,
  type RotaEventKind,
  type RotaSnapshot,
  type WorkerSnapshot,
  type WorkerState as SnapshotState,
} from "../ops/snapshot.ts";
import type { HeartbeatMessage } from "../protocol.ts";
import type { WorkerState } from "./worker_record.ts";

/** Every reason a worker is replaced on purpose, each a `reason` label of `rota_recycles_total`. */
export const RECYCLE_REASONS = [
  "max-requests",
  "max-lifetime",
  "max-memory",
  "hard-memory-limit",
  "reload",
  "init-hung",
  "drained",
] as const;

/** Why a worker was replaced on purpose. */
export type RecycleReason = typeof RECYCLE_REASONS[number];

/** Who a worker is, for events. */
export interface WorkerIdentity {
  readonly slot: number;
  readonly generation: number;
  readonly pid: number;
}

/** One live worker, as the supervisor knows it when a snapshot is taken. */
export interface LiveWorker extends WorkerIdentity {
  /** The supervisor's record of it (the key of its init attempts). */
  readonly key: object;
  readonly state: WorkerState;
  readonly role: WorkerSnapshot["role"];
  /** Supervisor clock time. */
  readonly startedAt: number;
  /** Supervisor clock time. */
  readonly readyAt?: number;
  /** Its last heartbeat. */
  readonly heartbeat?: HeartbeatMessage;
  /** Resident set size measured from outside. */
  readonly rss?: number;
}

/** The supervisor's side of a snapshot. */
export interface SnapshotView {
  readonly phase: RotaSnapshot["phase"];
  readonly ready: boolean;
  readonly workers: readonly LiveWorker[];
  readonly configVersion: number;
  readonly replacements: number;
  readonly crashes: number;
  readonly watchdogKills: number;
  readonly noWorkerReadyMs: number;
}

/** What does not change while a rota runs. */
export interface RotaIdentity {
  readonly runtime: RotaSnapshot["runtime"];
  readonly pid: number;
  readonly version: string;
  readonly app: string;
  readonly port: number;
  readonly hostname: string;
}

/** Options for {@linkcode SnapshotSource}. */
export interface SnapshotSourceOptions {
  /** The supervisor's clock (worker start and ready times are on it). */
  clock: Clock;
  /** Epoch milliseconds. @default {Date.now} */
  wallClock?: () => number;
  /** The rota's identity. */
  identity: RotaIdentity;
  /** How many events to keep. @default {EVENT_LIMIT} */
  eventLimit?: number;
}

/**
 * A worker's state as operators see it: `starting` until its first init
 * settles, then `ready` or `failing`, `draining` on its way out (a killed or
 * fatal worker is on its way out too).
 *
 * @param state The supervisor's state.
 * @returns The snapshot's state.
 */
export function snapshotState(state: WorkerState): SnapshotState {
  switch (state.kind) {
    case "loading":
    case "starting":
    case "initialised":
      return "starting";
    case "ready":
    case "failing":
      return state.kind;
    case "draining":
    case "fatal":
    case "killed":
      return "draining";
    case "exited":
      return "exited";
  }
}

/** Whether `delta` is a request histogram delta over the shared bounds. */
function isDelta(delta: unknown): delta is Pick<Histogram, "counts" | "sum" | "count"> {
  if (typeof delta !== "object" || delta === null) return false;
  const { counts, sum, count } = delta as Record<string, unknown>;
  return Array.isArray(counts) && counts.length === REQUEST_SECONDS_BOUNDS.length + 1 &&
    counts.every((n) => Number.isInteger(n) && n >= 0) && typeof sum === "number" && Number.isFinite(sum) &&
    Number.isInteger(count) && (count as number) >= 0;
}

/**
 * The supervisor's memory for operations, and its snapshots.
 *
 * @example
 * ```ts
 * const source = new SnapshotSource({ clock, identity });
 * source.event(worker, "spawned");
 * source.snapshot(view); // a RotaSnapshot
 * ```
 */
export class SnapshotSource {
  #clock: Clock;
  #wallClock: () => number;
  #identity: RotaIdentity;
  #eventLimit: number;
  #startedAt: number;
  #events: RotaEvent[] = [];
  // Every reason from 0, so that a scrape shows the series before the first recycle (rate() needs the zero).
  #recycles: Record<string, number> = Object.fromEntries(RECYCLE_REASONS.map((reason) => [reason, 0]));
  #initOk = 0;
  #initFailed = 0;
  #restarts = 0;
  #slotRestarts = new Map<number, number>();
  #workerInits = new WeakMap<object, number>();
  #requestSeconds: Histogram = createHistogram(REQUEST_SECONDS_BOUNDS);
  #initSeconds: Histogram = createHistogram(INIT_SECONDS_BOUNDS);
  #ignoredDeltas = 0;

  /** @param options Clocks, identity and the ring's size. */
  constructor(options: SnapshotSourceOptions) {
    const { clock, wallClock = Date.now, identity, eventLimit = EVENT_LIMIT } = options;
    this.#clock = clock;
    this.#wallClock = wallClock;
    this.#identity = identity;
    this.#eventLimit = eventLimit;
    this.#startedAt = wallClock();
  }

  /**
   * Something happened to a worker.
   *
   * @param worker Who.
   * @param kind What.
   * @param detail A short reason.
   */
  event(worker: WorkerIdentity, kind: RotaEventKind, detail?: string): void {
    const { slot, generation, pid } = worker;
    const event: RotaEvent = { time: this.#wallClock(), slot, generation, pid, kind, ...(detail ? { detail } : {}) };
    pushEvent(this.#events, event, this.#eventLimit);
  }

  /**
   * A worker is to be replaced on purpose.
   *
   * @param worker Who.
   * @param reason Why.
   */
  recycle(worker: WorkerIdentity, reason: RecycleReason): void {
    this.#recycles[reason] = (this.#recycles[reason] ?? 0) + 1;
    this.event(worker, "recycle", reason);
  }

  /**
   * An init attempt ended.
   *
   * @param key The worker's record.
   * @param ok Whether it succeeded.
   * @param ms How long it took, when the worker said.
   */
  initAttempt(key: object, ok: boolean, ms: number | undefined): void {
    if (ok) this.#initOk++;
    else this.#initFailed++;
    this.#workerInits.set(key, (this.#workerInits.get(key) ?? 0) + 1);
    if (ms !== undefined && Number.isFinite(ms) && ms >= 0) observe(this.#initSeconds, ms / 1000);
  }

  /**
   * A slot's worker is respawned after a crash (or a kill, or a refused spawn).
   *
   * @param slot The slot.
   */
  restart(slot: number): void {
    this.#restarts++;
    this.#slotRestarts.set(slot, (this.#slotRestarts.get(slot) ?? 0) + 1);
  }

  /**
   * Add a heartbeat's request durations.
   *
   * @param delta The heartbeat's `requestSeconds`; one of the wrong shape is counted and ignored.
   */
  requests(delta: unknown): void {
    if (delta === undefined) return;
    if (!isDelta(delta)) {
      this.#ignoredDeltas++;
      return;
    }
    this.#requestSeconds = mergeHistograms(REQUEST_SECONDS_BOUNDS, [
      this.#requestSeconds,
      { bounds: REQUEST_SECONDS_BOUNDS, counts: [...delta.counts], sum: delta.sum, count: delta.count },
    ]);
  }

  /** Heartbeat deltas ignored for their shape (a worker of another version, or an app on the channel). */
  get ignoredDeltas(): number {
    return this.#ignoredDeltas;
  }

  /**
   * The rota now.
   *
   * @param view What the supervisor knows now.
   * @returns A snapshot: plain data, safe to serialise.
   */
  snapshot(view: SnapshotView): RotaSnapshot {
    const wall = this.#wallClock();
    const epoch = (t: number) => Math.round(wall - (this.#clock.now() - t));
    const workers = view.workers.map((worker): WorkerSnapshot => {
      const beat = worker.heartbeat;
      const rss = worker.rss ?? beat?.rss;
      return {
        slot: worker.slot,
        generation: worker.generation,
        pid: worker.pid,
        state: snapshotState(worker.state),
        role: worker.role,
        startedAt: epoch(worker.startedAt),
        ...(worker.readyAt === undefined ? {} : { readyAt: epoch(worker.readyAt) }),
        requests: beat?.requests ?? 0,
        inFlight: beat?.inFlight ?? 0,
        ...(rss === undefined ? {} : { rss }),
        ...(beat ? { heapUsed: beat.heapUsed, eventLoopLagSeconds: beat.loopLagMs / 1000 } : {}),
        initAttempts: this.#workerInits.get(worker.key) ?? 0,
        restarts: this.#slotRestarts.get(worker.slot) ?? 0,
      };
    });
    return {
      time: wall,
      ...this.#identity,
      startedAt: this.#startedAt,
      phase: view.phase,
      ready: view.ready,
      workers: workers.toSorted((a, b) => a.slot - b.slot || a.generation - b.generation),
      configVersion: view.configVersion,
      counters: {
        replacements: view.replacements,
        crashes: view.crashes,
        restarts: this.#restarts,
        watchdogKills: view.watchdogKills,
        noWorkerReadyMs: view.noWorkerReadyMs,
        recycles: { ...this.#recycles },
        initAttempts: { ok: this.#initOk, failed: this.#initFailed },
      },
      histograms: {
        requestSeconds: structuredClone(this.#requestSeconds),
        initSeconds: structuredClone(this.#initSeconds),
      },
      events: [...this.#events],
    };
  }
}
