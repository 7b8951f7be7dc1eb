/**
 * What a running rota looks like at one moment: the one shape that the
 * supervisor produces and that metrics, `rota status`, the status page and the
 * control socket read. Plain data, so it crosses a socket as JSON.
 *
 * @module
 */

import type { Histogram } from "./histogram.ts";

/** Where a worker is in its life (the supervisor's state machine, as seen from outside). */
export type WorkerState = "starting" | "ready" | "failing" | "draining" | "exited";

/** Every {@linkcode WorkerState}, in the order of a worker's life. */
export const WORKER_STATES: readonly WorkerState[] = ["starting", "ready", "failing", "draining", "exited"];

/** One worker process. */
export interface WorkerSnapshot {
  /** The slot it fills, from 0. */
  readonly slot: number;
  /** How many workers the slot had before this one. */
  readonly generation: number;
  /** Its process id. */
  readonly pid: number;
  /** Where it is in its life. */
  readonly state: WorkerState;
  /** `incoming`: a replacement not yet promoted; `retired`: replaced, on its way out. */
  readonly role: "active" | "incoming" | "retired";
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /** Epoch milliseconds of its first `ready`. */
  readonly readyAt?: number;
  /** Requests it answered. */
  readonly requests: number;
  /** Requests it is answering now. */
  readonly inFlight: number;
  /** Resident set size in bytes, measured by the supervisor. */
  readonly rss?: number;
  /** V8/JSC heap in use, as the worker reported it. */
  readonly heapUsed?: number;
  /** Event loop lag the worker measured, in seconds. */
  readonly eventLoopLagSeconds?: number;
  /** `init` attempts so far in this process. */
  readonly initAttempts: number;
  /** How many times this slot was respawned after a crash. */
  readonly restarts: number;
}

/** What can happen to a worker, for the timeline. */
export type RotaEventKind =
  | "spawned"
  | "listening"
  | "ready"
  | "init-failed"
  | "recycle"
  | "draining"
  | "exited"
  | "crashed"
  | "killed"
  | "config";

/** One entry of the supervisor's event ring. */
export interface RotaEvent {
  /** Epoch milliseconds. */
  readonly time: number;
  /** The worker's slot. */
  readonly slot: number;
  /** The worker's generation. */
  readonly generation: number;
  /** The worker's process id. */
  readonly pid: number;
  /** What happened. */
  readonly kind: RotaEventKind;
  /** A short free text, e.g. the recycle reason. */
  readonly detail?: string;
}

/** Totals since the supervisor started. */
export interface RotaCounters {
  /** Replacement workers promoted in place of an old one. */
  readonly replacements: number;
  /** Workers that exited without being asked to. */
  readonly crashes: number;
  /** Workers respawned after a crash, a watchdog kill or a refused start. */
  readonly restarts: number;
  /** Workers killed because their heartbeats stopped. */
  readonly watchdogKills: number;
  /** Milliseconds during which no worker was ready while rota was running. */
  readonly noWorkerReadyMs: number;
  /** Recycles by reason (`max-requests`, `max-lifetime`, `max-memory`, `reload`, …). */
  readonly recycles: Readonly<Record<string, number>>;
  /** Runs of the app's `init` by result. */
  readonly initAttempts: { readonly ok: number; readonly failed: number };
}

/** The whole rota at one moment. */
export interface RotaSnapshot {
  /** Epoch milliseconds when the snapshot was taken. */
  readonly time: number;
  /** The runtime the rota runs on. */
  readonly runtime: "node" | "bun" | "deno";
  /** The supervisor's pid. */
  readonly pid: number;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  /** rota's version. */
  readonly version: string;
  /** The supervisor's phase: `stopping` from the stop's first moment (the shutdown delay included). */
  readonly phase: "starting" | "running" | "stopping";
  /** At least one worker is ready and rota is not stopping. */
  readonly ready: boolean;
  /** The app module. */
  readonly app: string;
  /** The app port. */
  readonly port: number;
  /** The address the app port is bound to. */
  readonly hostname: string;
  /** Every live worker, by slot then generation. */
  readonly workers: readonly WorkerSnapshot[];
  /** The shared configuration's version. */
  readonly configVersion: number;
  /** Totals since the supervisor started. */
  readonly counters: RotaCounters;
  /** Aggregated over every worker, those gone included. */
  readonly histograms: { readonly requestSeconds: Histogram; readonly initSeconds: Histogram };
  /** The last events, oldest first. */
  readonly events: readonly RotaEvent[];
}

/** How many events the supervisor keeps. */
export const EVENT_LIMIT = 500;

/**
 * A worker's short name, `slot.generation`, as the logs and labels spell it.
 *
 * @param worker The worker.
 * @returns E.g. `0.3`.
 */
export function workerName(worker: Pick<WorkerSnapshot, "slot" | "generation">): string {
  return `${worker.slot}.${worker.generation}`;
}

/**
 * Count workers by state; every state is present, zero when none.
 *
 * @param workers The workers.
 * @returns A count for each state.
 */
export function countByState(workers: readonly WorkerSnapshot[]): Record<WorkerState, number> {
  const counts = Object.fromEntries(WORKER_STATES.map((state) => [state, 0])) as Record<WorkerState, number>;
  for (const worker of workers) counts[worker.state]++;
  return counts;
}

/**
 * Append an event, dropping the oldest beyond `limit`.
 *
 * @param events The ring, changed in place.
 * @param event The new event.
 * @param limit How many to keep. @default {EVENT_LIMIT}
 */
export function pushEvent(events: RotaEvent[], event: RotaEvent, limit: number = EVENT_LIMIT): void {
  events.push(event);
  if (events.length > limit) events.splice(0, events.length - limit);
}
