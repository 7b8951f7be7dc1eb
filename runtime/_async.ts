/**
 * A private stand-in for the parts of `@std/async` that rota uses.
 *
 * `@std/async` lives on JSR, which the machines this project is built on cannot
 * reach. It holds only what rota uses: `delay`, and the exponential back-off
 * that `retry` computes between attempts (with `RetryOptions`, its shape). The
 * names and semantics follow `@std/async`, so switching to the real package is
 * a change of one import in each caller; `test/unit/async.test.ts` pins those
 * semantics. (`deadline`, `retry` and `Lazy` are not here: the init gate needs
 * a clock, a deadline per attempt and background retries, which it does
 * itself.) Nothing here is exported from `mod.ts`.
 *
 * @module
 */

import { sleep, systemClock } from "./clock.ts";

/** Options for {@linkcode delay}. */
export interface DelayOptions {
  /** Signal used to abort the delay. */
  signal?: AbortSignal;
}

/**
 * Resolve after `ms` milliseconds, or reject with `signal.reason` once aborted.
 *
 * @param ms Milliseconds to wait.
 * @param options Abort signal.
 * @returns A promise that resolves after the delay.
 * @throws {unknown} `signal.reason` when the signal aborts first.
 * @example
 * ```ts
 * await delay(100);
 * ```
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  return sleep(systemClock, ms, options.signal);
}

/** The back-off shape of `@std/async`'s `retry`. */
export interface RetryOptions {
  /** How much the timeout grows after each attempt. @default {2} */
  multiplier?: number;
  /** The longest wait between attempts, in milliseconds. @default {60000} */
  maxTimeout?: number;
  /** The first wait, in milliseconds. @default {1000} */
  minTimeout?: number;
  /** Share of the wait that is random, from 0 to 1. @default {1} */
  jitter?: number;
}

/**
 * The wait before retry number `attempt` (0-based), as `@std/async`'s `retry`
 * computes it: exponential, capped, with a random share of `jitter`.
 *
 * @param attempt How many attempts failed before this wait, minus one.
 * @param options Back-off shape.
 * @param random A source of numbers in [0, 1), injectable for tests.
 * @returns Milliseconds to wait.
 * @example
 * ```ts
 * exponentialBackoff(0, { minTimeout: 100, jitter: 0 }); // 100
 * ```
 */
export function exponentialBackoff(
  attempt: number,
  options: RetryOptions = {},
  random: () => number = Math.random,
): number {
  const { multiplier = 2, maxTimeout = 60000, minTimeout = 1000, jitter = 1 } = options;
  const exponential = Math.min(maxTimeout, minTimeout * multiplier ** attempt);
  return Math.round(exponential * (1 - jitter * random()));
}
