/**
 * A private stand-in for the parts of `@std/async` that rota uses.
 *
 * `@std/async` lives on JSR, which the machines this project is built on cannot
 * reach. The names and semantics below follow it (`delay`, `deadline`, `retry`,
 * `Lazy`), so switching to the real package is a change of one import in each
 * caller; `test/unit/async.test.ts` pins those semantics. rota itself uses
 * `delay` and the back-off computation behind `retry`; the init gate is a
 * `Lazy` grown a clock, a deadline and background retries. Nothing here is
 * exported from `mod.ts`.
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

/** Options for {@linkcode deadline}. */
export interface DeadlineOptions {
  /** Signal used to abort the wait. */
  signal?: AbortSignal;
}

/** Thrown by {@linkcode deadline} when the time runs out, as `@std/async` does. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/**
 * Wait for `promise` at most `ms` milliseconds.
 *
 * The promise itself is not cancelled: like `@std/async`, only the wait ends.
 *
 * @param promise What to wait for.
 * @param ms Milliseconds to wait at most.
 * @param options Abort signal.
 * @returns The promise's value.
 * @throws {TimeoutError} When `ms` passes first; `signal.reason` when aborted.
 * @example
 * ```ts
 * const value = await deadline(fetch("http://127.0.0.1:8000"), 1000);
 * ```
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T> {
  const { signal } = options;
  const timeout = AbortSignal.timeout(ms);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  if (combined.aborted) return Promise.reject(reasonOf(combined, timeout, ms));
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(reasonOf(combined, timeout, ms));
    combined.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => combined.removeEventListener("abort", abort));
  });
}

function reasonOf(
  combined: AbortSignal,
  timeout: AbortSignal,
  ms: number,
): unknown {
  return timeout.aborted && combined.reason === timeout.reason
    ? new TimeoutError(`Deadline of ${ms}ms exceeded`)
    : combined.reason;
}

/** Options for {@linkcode retry}. */
export interface RetryOptions {
  /** How much the timeout grows after each attempt. @default {2} */
  multiplier?: number;
  /** The longest wait between attempts, in milliseconds. @default {60000} */
  maxTimeout?: number;
  /** How many attempts in all. @default {5} */
  maxAttempts?: number;
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

/**
 * Call `fn` until it resolves, waiting with exponential back-off between
 * attempts, up to `maxAttempts`.
 *
 * @param fn The operation.
 * @param options Back-off shape.
 * @returns What `fn` resolves to.
 * @throws {unknown} The last error once every attempt failed.
 * @example
 * ```ts
 * const res = await retry(() => fetch("http://127.0.0.1:8000"), { maxAttempts: 3 });
 * ```
 */
export async function retry<T>(
  fn: () => Promise<T> | T,
  options: RetryOptions = {},
): Promise<T> {
  const { maxAttempts = 5 } = options;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt + 1 >= maxAttempts) throw error;
      await delay(exponentialBackoff(attempt, options));
    }
  }
}

/** Options for {@linkcode Lazy.get}. */
export interface LazyGetOptions {
  /** Stops this caller's wait; the shared attempt carries on. */
  signal?: AbortSignal;
}

/**
 * A value computed once on first use; concurrent callers share one attempt,
 * and a failed attempt is forgotten so the next caller tries again.
 *
 * @example
 * ```ts
 * const db = new Lazy(() => openDatabase());
 * const [a, b] = await Promise.all([db.get(), db.get()]); // one open
 * ```
 */
export class Lazy<T> {
  #init: () => Promise<T> | T;
  #promise: Promise<T> | undefined;
  #value: { ok: true; value: T } | undefined;

  /** @param init The computation, run at most once at a time. */
  constructor(init: () => Promise<T> | T) {
    this.#init = init;
  }

  /** Whether a value has been computed. */
  get initialized(): boolean {
    return this.#value !== undefined;
  }

  /**
   * The value, computing it if no attempt succeeded yet.
   *
   * @param options Abort signal for this caller only.
   * @returns The value.
   * @throws {unknown} The attempt's error, or `signal.reason`.
   */
  get(options: LazyGetOptions = {}): Promise<T> {
    const { signal } = options;
    if (this.#value) return Promise.resolve(this.#value.value);
    this.#promise ??= Promise.resolve().then(this.#init).then(
      (value) => {
        this.#value = { ok: true, value };
        return value;
      },
      (error) => {
        this.#promise = undefined;
        throw error;
      },
    );
    if (!signal) return this.#promise;
    if (signal.aborted) return Promise.reject(signal.reason);
    const shared = this.#promise;
    return new Promise<T>((resolve, reject) => {
      const abort = () => reject(signal.reason);
      signal.addEventListener("abort", abort, { once: true });
      shared.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
    });
  }
}
