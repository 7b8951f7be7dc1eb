/**
 * Time as a capability, so that back-off, deadlines and timeouts are tested
 * with a fake clock instead of real sleeps.
 *
 * @module
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** What rota needs from time. */
export interface Clock {
  /** Milliseconds since some fixed point; only differences matter. */
  now(): number;
  /** Call `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The longest delay the runtimes' `setTimeout` honours (2³¹−1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timer functions {@linkcode longTimers} wraps. */
export interface NativeTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Timers that honour any delay: one longer than `max` is a chain of shorter
 * ones. (A plain `setTimeout` of 600 hours fires at once: `--max-lifetime 600h`
 * used to recycle workers in a loop.)
 *
 * @param native The runtime's timers.
 * @param max The longest delay `native` honours.
 * @returns `setTimeout` and `clearTimeout` for any delay.
 * @example
 * ```ts
 * const timers = longTimers(globalThis);
 * timers.setTimeout(() => console.log("in a month"), 30 * 24 * 3600 * 1000);
 * ```
 */
export function longTimers(
  native: NativeTimers,
  max: number = MAX_TIMER_MS,
): Pick<Clock, "setTimeout" | "clearTimeout"> {
  return {
    setTimeout(fn, ms) {
      const wait = Math.max(0, ms);
      if (wait <= max) return native.setTimeout(fn, wait);
      const chain = { remaining: wait, current: undefined as unknown };
      const arm = () => {
        const step = Math.min(chain.remaining, max);
        chain.current = native.setTimeout(() => {
          chain.remaining -= step;
          if (chain.remaining > 0) arm();
          else fn();
        }, step);
      };
      arm();
      return chain;
    },
    clearTimeout(handle) {
      const chain = handle as { current?: unknown } | undefined;
      native.clearTimeout(typeof chain === "object" && chain !== null && "current" in chain ? chain.current : handle);
    },
  };
}

/** The real clock: `performance.now()` and the global timers, for delays of any length. */
export const systemClock: Clock = {
  now: () => performance.now(),
  ...longTimers({
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
  }),
};

/**
 * Wait `ms` on `clock`, or reject with `signal.reason`.
 *
 * @param clock The clock to wait on.
 * @param ms Milliseconds.
 * @param signal Stops the wait.
 * @returns Resolves after `ms`.
 * @throws {unknown} `signal.reason` when aborted.
 * @example
 * ```ts
 * await sleep(systemClock, 10);
 * ```
 */
export function sleep(
  clock: Clock,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const abort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", abort, { once: true });
  });
}
