/**
 * Memory limits, measured by the supervisor: every second it reads each
 * worker's resident set size from outside the worker (so a worker whose event
 * loop is blocked is still measured), and reports a worker once when it passes
 * `--max-memory` (the soft limit: recycle it, replacement first) and once when
 * it passes the hard limit, 1.5 times that (stop its new connections now and
 * replace it).
 *
 * The hard limit is also what V8's heap limit is set to on Node and Deno, so
 * that the heap cannot outgrow it without the resident set passing it first:
 * rota acts at the hard limit, V8 collects hard as its heap nears it, and only
 * an app that keeps growing regardless dies of "heap out of memory" then.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";

/** How often the supervisor measures its workers. */
export const MEMORY_CHECK_MS = 1000;

/** The hard limit, as a multiple of `--max-memory`. */
export const HARD_LIMIT_FACTOR = 1.5;

/** Below this, no heap limit is set: a runtime needs more than this just to start. */
export const MIN_HEAP_LIMIT_MIB = 64;

/** Where a worker's memory stands against the limits. */
export type MemoryLevel = "under" | "soft" | "hard";

/**
 * The hard limit for a soft one.
 *
 * @param maxMemory `--max-memory`, in bytes; 0 is off.
 * @returns The hard limit in bytes; 0 when off.
 * @example
 * ```ts
 * hardMemoryLimit(100 * 2 ** 20); // 157286400 (150 MiB)
 * ```
 */
export function hardMemoryLimit(maxMemory: number): number {
  return maxMemory > 0 ? Math.round(maxMemory * HARD_LIMIT_FACTOR) : 0;
}

/**
 * The V8 heap limit (`--max-old-space-size`, in MiB) for workers under `maxMemory`.
 *
 * @param maxMemory `--max-memory`, in bytes; 0 is off.
 * @returns Mebibytes, or `undefined` when no limit should be set (off, or too small to start a runtime).
 * @example
 * ```ts
 * heapLimitMiB(512 * 2 ** 20); // 768
 * ```
 */
export function heapLimitMiB(maxMemory: number): number | undefined {
  const mib = Math.floor(hardMemoryLimit(maxMemory) / 2 ** 20);
  return mib >= MIN_HEAP_LIMIT_MIB ? mib : undefined;
}

/**
 * Where `rss` stands.
 *
 * @param rss Resident bytes.
 * @param maxMemory `--max-memory`, in bytes; 0 is off.
 * @returns `under`, `soft` (above `maxMemory`) or `hard` (above the hard limit).
 */
export function memoryLevel(rss: number, maxMemory: number): MemoryLevel {
  if (maxMemory <= 0 || rss <= maxMemory) return "under";
  return rss > hardMemoryLimit(maxMemory) ? "hard" : "soft";
}

/** Options for {@linkcode MemoryWatch}. */
export interface MemoryWatchOptions<W> {
  /** `--max-memory`, in bytes; 0 turns the watch off. */
  maxMemory: number;
  /** The clock the checks run on. */
  clock: Clock;
  /** The workers to measure, read at every check. */
  workers(): Iterable<W>;
  /** A worker's resident bytes, or `undefined` when unknown. */
  measure(worker: W): number | undefined;
  /** Called once per worker and level, when it first passes that limit. */
  over(worker: W, level: "soft" | "hard", rss: number): void;
  /** Milliseconds between checks. @default {MEMORY_CHECK_MS} */
  interval?: number;
}

/**
 * The supervisor's memory check.
 *
 * @example
 * ```ts
 * const watch = new MemoryWatch({ maxMemory, clock, workers: () => live, measure, over });
 * watch.start();
 * ```
 */
export class MemoryWatch<W extends object> {
  #options: MemoryWatchOptions<W>;
  #reported = new WeakMap<W, MemoryLevel>();
  #timer: TimerHandle | undefined;
  #running = false;

  /** @param options The limit, the workers, and how to measure and report them. */
  constructor(options: MemoryWatchOptions<W>) {
    this.#options = options;
  }

  /** Check every interval until {@linkcode MemoryWatch.stop}; nothing when `maxMemory` is 0. */
  start(): void {
    if (this.#running || this.#options.maxMemory <= 0) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stop checking. */
  stop(): void {
    this.#running = false;
    this.#options.clock.clearTimeout(this.#timer);
  }

  /** Measure every worker now. */
  check(): void {
    const { maxMemory, workers, measure, over } = this.#options;
    for (const worker of workers()) {
      const rss = measure(worker);
      if (rss === undefined) continue;
      const level = memoryLevel(rss, maxMemory);
      const before = this.#reported.get(worker) ?? "under";
      if (level === "under" || level === before || (before === "hard" && level === "soft")) continue;
      this.#reported.set(worker, level);
      over(worker, level, rss);
    }
  }

  #schedule(): void {
    const { clock, interval = MEMORY_CHECK_MS } = this.#options;
    this.#timer = clock.setTimeout(() => {
      if (!this.#running) return;
      this.check();
      this.#schedule();
    }, interval);
  }
}
