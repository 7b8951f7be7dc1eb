/**
 * The watchdog (gunicorn's `--timeout`, uWSGI's harakiri): a worker whose
 * heartbeats stop for `timeout` milliseconds has a blocked event loop (a
 * handler spinning, a synchronous import or `init`) or was stopped (SIGSTOP),
 * and is reported overdue, once, for the supervisor to kill and replace.
 *
 * A worker is watched from its first heartbeat, which it sends before it
 * imports the app; a worker that never sends one is bounded by
 * `--startup-timeout` instead, so a slow process start (a cold Deno, a loaded
 * machine) is never mistaken for a wedge.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { HeartbeatMessage } from "../protocol.ts";

/**
 * A watchdog timer that fires later than this (in milliseconds) means the
 * supervisor was not running: silence it measured is not the worker's fault
 * until the heartbeats queued meanwhile were read.
 */
export const STALL_MS = 100;

/** Options for {@linkcode Watchdog}. */
export interface WatchdogOptions<W> {
  /** Milliseconds of silence after which a worker is overdue; 0 turns the watchdog off. */
  timeout: number;
  /** The clock the deadlines run on. */
  clock: Clock;
  /** Called once per worker, when it became overdue. */
  overdue(worker: W, silentMs: number, last: HeartbeatMessage): void;
}

interface Watched {
  last: HeartbeatMessage;
  lastAt: number;
  timer: TimerHandle;
}

/**
 * Deadlines on heartbeats, one per worker.
 *
 * @example
 * ```ts
 * const watchdog = new Watchdog<WorkerRecord>({ timeout: 30000, clock, overdue: (worker) => kill(worker) });
 * watchdog.beat(worker, heartbeat);
 * ```
 */
export class Watchdog<W> {
  #options: WatchdogOptions<W>;
  #watched = new Map<W, Watched>();

  /** @param options The timeout, the clock, and what to call for an overdue worker. */
  constructor(options: WatchdogOptions<W>) {
    this.#options = options;
  }

  /**
   * A worker's heartbeat arrived: its deadline moves to now + timeout.
   *
   * @param worker The worker.
   * @param heartbeat What it said.
   */
  beat(worker: W, heartbeat: HeartbeatMessage): void {
    const { timeout, clock } = this.#options;
    const now = clock.now();
    const watched = this.#watched.get(worker);
    if (watched) {
      // The timer is not moved on every beat: when it fires early it re-arms for what is left.
      watched.last = heartbeat;
      watched.lastAt = now;
      return;
    }
    const entry: Watched = { last: heartbeat, lastAt: now, timer: undefined };
    this.#watched.set(worker, entry);
    if (timeout > 0) this.#arm(worker, entry, timeout);
  }

  /**
   * The last heartbeat of a worker.
   *
   * @param worker The worker.
   * @returns What it last said, or `undefined` before its first heartbeat.
   */
  last(worker: W): HeartbeatMessage | undefined {
    return this.#watched.get(worker)?.last;
  }

  /**
   * Stop watching a worker (it exited, or is being killed anyway).
   *
   * @param worker The worker.
   */
  forget(worker: W): void {
    const watched = this.#watched.get(worker);
    if (!watched) return;
    this.#options.clock.clearTimeout(watched.timer);
    this.#watched.delete(worker);
  }

  /** Stop watching every worker. */
  stop(): void {
    for (const worker of [...this.#watched.keys()]) this.forget(worker);
  }

  #arm(worker: W, watched: Watched, ms: number): void {
    const { timeout, clock, overdue } = this.#options;
    const due = clock.now() + ms;
    watched.timer = clock.setTimeout(() => {
      const now = clock.now();
      const silent = now - watched.lastAt;
      if (silent < timeout) return this.#arm(worker, watched, timeout - silent);
      // This timer fired late: the supervisor itself was held up (a loaded or
      // frozen machine holds up every process at once), and the heartbeats sent
      // meanwhile may be waiting to be read. Timers run before I/O in a loop
      // turn, so look again once the channel had its turn.
      if (now - due > STALL_MS) return this.#arm(worker, watched, STALL_MS);
      this.#watched.delete(worker);
      overdue(worker, Math.round(silent), watched.last);
    }, ms);
  }
}

/**
 * What a worker was doing when it fell silent, from its last heartbeat, for
 * the watchdog's log line.
 *
 * @param last Its last heartbeat.
 * @param silentMs How long it has been silent since.
 * @returns E.g. `running GET /report for 31200ms`, `importing the app`, `idle`.
 * @example
 * ```ts
 * describeActivity({ ...beat, oldestMethod: "GET", oldestPath: "/x", oldestMs: 200 }, 30000); // "running GET /x for 30200ms"
 * ```
 */
export function describeActivity(last: HeartbeatMessage, silentMs: number): string {
  if (last.phase === "loading") return "importing the app";
  if (last.oldestMethod !== undefined && last.oldestPath !== undefined) {
    return `running ${last.oldestMethod} ${last.oldestPath} for ${Math.round((last.oldestMs ?? 0) + silentMs)}ms`;
  }
  if (last.initAttempt !== undefined) return `in init attempt ${last.initAttempt}`;
  if (last.phase === "draining") return "draining";
  return "idle";
}
