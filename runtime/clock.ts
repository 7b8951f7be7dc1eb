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

/** The real clock: `performance.now()` and the global timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
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
