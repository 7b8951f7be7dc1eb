/**
 * The init gate: the init-hook contract of rota, in one place.
 *
 * A worker starts the gate as it starts (`start()`), so initialisation does
 * not wait for the first request. Requests pass through `acquire()`:
 *
 * - while an attempt runs, they wait for it, at most `wait` milliseconds, and
 *   every request arriving meanwhile shares that one attempt (single flight,
 *   as `Lazy` does in `@std/async`);
 * - after a failure, the next attempt starts as soon as it is allowed to,
 *   triggered by a request or, with no traffic, by the gate itself.
 *
 * **The retry rule limits how often an attempt may start, not how soon after
 * a failure.** Attempt n+1 may start {@linkcode retrySpacing} after attempt n
 * *started*: one second for the first three failures in a row, then doubling
 * with each further failure up to `maxRetryInterval`. An init that takes one
 * second and fails is therefore retried at once, back to back, as mod_wsgi
 * retries by restarting its process, while an init that fails in a
 * millisecond runs at most once a second, and less and less often while it
 * keeps failing: a database that is down is not hammered. Attempts never run
 * side by side.
 *
 * Each attempt's signal aborts after `timeout`. An attempt that ignores it and
 * is still unsettled `hangGrace` later is reported as hung: the worker cannot
 * start a second `init` beside a live first one, so its supervisor replaces it.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { RotaError } from "../errors.ts";

/** What the gate reports as it goes. */
export type InitEvent =
  | { type: "attempt"; attempt: number }
  | { type: "ready"; attempt: number; ms: number }
  | { type: "failed"; attempt: number; error: unknown; ms: number; nextAttemptInMs: number }
  | { type: "hung"; attempt: number };

/** The spacing of attempts, for {@linkcode retrySpacing}. */
export interface RetrySpacingOptions {
  /** Milliseconds between the starts of two attempts, at first. @default {1000} */
  retryInterval?: number;
  /** Failures in a row before the interval starts to double. @default {3} */
  steadyRetries?: number;
  /** The longest interval between the starts of two attempts. @default {30000} */
  maxRetryInterval?: number;
}

/**
 * How long after an attempt *started* the next one may start, once `failures`
 * attempts in a row have failed.
 *
 * @param failures Failures in a row, at least 1.
 * @param options The spacing.
 * @returns Milliseconds.
 * @example
 * ```ts
 * [1, 2, 3, 4, 5, 6].map((f) => retrySpacing(f)); // [1000, 1000, 1000, 2000, 4000, 8000]
 * ```
 */
export function retrySpacing(failures: number, options: RetrySpacingOptions = {}): number {
  const { retryInterval = 1000, steadyRetries = 3, maxRetryInterval = 30000 } = options;
  const doublings = Math.max(0, failures - steadyRetries);
  return Math.min(maxRetryInterval, retryInterval * 2 ** Math.min(doublings, 30));
}

/** Options for {@linkcode InitGate}. */
export interface InitGateOptions<S> extends RetrySpacingOptions {
  /** The initialisation; its result is handed to requests. */
  init: (context: { signal: AbortSignal; attempt: number }) => S | Promise<S>;
  /** Source of time. @default {systemClock} */
  clock?: Clock;
  /** Milliseconds before an attempt's signal aborts. @default {30000} */
  timeout?: number;
  /** Milliseconds a request waits for a running attempt before it gets 503. @default {10000} */
  wait?: number;
  /**
   * Share of the spacing added at random to a retry the gate starts by itself
   * (never to one a request starts), so that workers that failed together do
   * not retry together. @default {0.1}
   */
  jitter?: number;
  /** Milliseconds after `timeout` before an unsettled attempt counts as hung. @default {5000} */
  hangGrace?: number;
  /** Source of randomness for jitter. @default {Math.random} */
  random?: () => number;
  /** Called on every attempt, success, failure and hang. */
  onEvent?: (event: InitEvent) => void;
}

/** Where the gate is. */
export type InitGateState<S> =
  | { kind: "idle" }
  | { kind: "running"; attempt: number; promise: Promise<S> }
  | { kind: "ready"; attempt: number; state: S }
  | {
    kind: "failed";
    attempt: number;
    error: unknown;
    /** When the next attempt may start (clock time). */
    nextAttemptAt: number;
  }
  | { kind: "closed" };

/** Why a request could not pass: answer 503 with `Retry-After: retryAfterSeconds`. */
export class InitUnavailableError extends RotaError {
  /** Seconds the client should wait before trying again. */
  readonly retryAfterSeconds: number;

  /**
   * @param code Pending (still running) or failed.
   * @param retryAfterSeconds Seconds for `Retry-After`.
   * @param options The underlying cause.
   */
  constructor(
    code: "ERR_ROTA_INIT_PENDING" | "ERR_ROTA_INIT_FAILED",
    retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(
      code,
      code === "ERR_ROTA_INIT_PENDING"
        ? "The worker is still initialising"
        : "The worker failed to initialise and will retry",
      options,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Single-flight initialisation, retried on request and in the background.
 *
 * @typeParam S What `init` returns.
 * @example
 * ```ts
 * const gate = new InitGate({ init: async ({ signal }) => await openDatabase({ signal }) });
 * gate.start();
 * const db = await gate.acquire(); // waits for, or retries, init
 * ```
 */
export class InitGate<S> {
  #init: InitGateOptions<S>["init"];
  #clock: Clock;
  #timeout: number;
  #wait: number;
  #spacing: RetrySpacingOptions;
  #jitter: number;
  #hangGrace: number;
  #random: () => number;
  #onEvent: (event: InitEvent) => void;
  #state: InitGateState<S> = { kind: "idle" };
  #attempts = 0;
  #failures = 0;
  #retryTimer: TimerHandle | undefined;
  /** An attempt whose deadline passed but whose promise has not settled yet. */
  #unsettled: Promise<unknown> | undefined;
  /** Settles when the last attempt started has settled, even one that ignored its signal. */
  #lastSettled: Promise<unknown> = Promise.resolve();
  #stop = new AbortController();

  /** @param options The initialisation and its timing. */
  constructor(options: InitGateOptions<S>) {
    const {
      init,
      clock = systemClock,
      timeout = 30000,
      wait = 10000,
      retryInterval = 1000,
      steadyRetries = 3,
      maxRetryInterval = 30000,
      jitter = 0.1,
      hangGrace = 5000,
      random = Math.random,
      onEvent = () => {},
    } = options;
    this.#init = init;
    this.#clock = clock;
    this.#timeout = timeout;
    this.#wait = wait;
    this.#spacing = { retryInterval, steadyRetries, maxRetryInterval };
    this.#jitter = jitter;
    this.#hangGrace = hangGrace;
    this.#random = random;
    this.#onEvent = onEvent;
  }

  /** Where the gate is now. */
  get state(): InitGateState<S> {
    return this.#state;
  }

  /** How many attempts have started. */
  get attempts(): number {
    return this.#attempts;
  }

  /**
   * Start the first attempt (at worker start). Does nothing when an attempt
   * already ran.
   *
   * @returns The first attempt, settled either way: it never rejects.
   */
  start(): Promise<void> {
    if (this.#state.kind !== "idle") return Promise.resolve();
    return this.#attempt().then(() => {}, () => {});
  }

  /**
   * The initialised state, once `init` has succeeded.
   *
   * @param signal Stops this request's wait (the attempt carries on).
   * @returns What `init` returned.
   * @throws {InitUnavailableError} While `init` is running past `wait`, or failed.
   */
  acquire(signal?: AbortSignal): Promise<S> {
    const state = this.#state;
    switch (state.kind) {
      case "ready":
        return Promise.resolve(state.state);
      case "running":
        return this.#waitFor(state.promise, signal);
      case "idle":
        return this.#waitFor(this.#attempt(), signal);
      case "failed": {
        if (this.#mayStart()) return this.#waitFor(this.#attempt(), signal);
        const error = new InitUnavailableError("ERR_ROTA_INIT_FAILED", this.#retryAfter(), { cause: state.error });
        return Promise.reject(error);
      }
      case "closed":
        return Promise.reject(new InitUnavailableError("ERR_ROTA_INIT_PENDING", 1));
    }
  }

  /**
   * Resolves once no attempt runs any more, including one that passed its
   * deadline without settling: `dispose` must not run beside a live `init`.
   *
   * @returns When the last attempt started has settled.
   */
  settled(): Promise<void> {
    return this.#lastSettled.then(() => {});
  }

  /** Stop retrying and abort a running attempt; used as the worker stops. */
  close(): void {
    this.#clock.clearTimeout(this.#retryTimer);
    this.#stop.abort(new RotaError("ERR_ROTA_INIT_FAILED", "The worker is stopping"));
    if (this.#state.kind !== "ready") this.#state = { kind: "closed" };
  }

  /** Whether a failed gate may start its next attempt now. */
  #mayStart(): boolean {
    const state = this.#state;
    return state.kind === "failed" && this.#clock.now() >= state.nextAttemptAt && !this.#unsettled;
  }

  /** Seconds until the next attempt may start, for `Retry-After`. */
  #retryAfter(): number {
    const state = this.#state;
    const until = state.kind === "failed" ? state.nextAttemptAt - this.#clock.now() : 0;
    return seconds(until);
  }

  #attempt(): Promise<S> {
    this.#clock.clearTimeout(this.#retryTimer);
    const attempt = ++this.#attempts;
    const started = this.#clock.now();
    const timeout = new AbortController();
    const signal = AbortSignal.any([timeout.signal, this.#stop.signal]);
    const deadline = this.#clock.setTimeout(() => {
      timeout.abort(
        new RotaError("ERR_ROTA_INIT_TIMEOUT", `init attempt ${attempt} did not finish within ${this.#timeout}ms`),
      );
    }, this.#timeout);
    this.#onEvent({ type: "attempt", attempt });

    const running = Promise.resolve().then(() => this.#init({ signal, attempt }));
    const settled = running.then(() => true, () => true);
    this.#lastSettled = settled;
    const promise = new Promise<S>((resolve, reject) => {
      const abort = () => reject(signal.reason);
      signal.addEventListener("abort", abort, { once: true });
      running.then(resolve, reject).finally(() => {
        signal.removeEventListener("abort", abort);
        this.#clock.clearTimeout(deadline);
      });
    });
    this.#state = { kind: "running", attempt, promise };

    promise.then(
      (state) => {
        this.#failures = 0;
        this.#state = { kind: "ready", attempt, state };
        this.#onEvent({ type: "ready", attempt, ms: this.#clock.now() - started });
      },
      (error) => {
        if (this.#state.kind === "closed" || this.#stop.signal.aborted) return;
        this.#failures++;
        const now = this.#clock.now();
        const nextAttemptAt = started + retrySpacing(this.#failures, this.#spacing);
        this.#state = { kind: "failed", attempt, error, nextAttemptAt };
        this.#onEvent({
          type: "failed",
          attempt,
          error,
          ms: now - started,
          nextAttemptInMs: Math.max(0, nextAttemptAt - now),
        });
        this.#watchUnsettled(settled, attempt);
        this.#scheduleRetry();
      },
    );
    return promise;
  }

  /**
   * With no traffic, start the next attempt when it may start, plus a little
   * jitter; while an attempt that passed its deadline is still unsettled, look
   * again every `retryInterval`.
   */
  #scheduleRetry(delay?: number): void {
    const state = this.#state;
    if (state.kind !== "failed") return;
    const spacing = retrySpacing(this.#failures, this.#spacing);
    const wait = delay ??
      Math.max(0, state.nextAttemptAt - this.#clock.now()) + Math.round(spacing * this.#jitter * this.#random());
    this.#retryTimer = this.#clock.setTimeout(() => {
      if (this.#state.kind !== "failed") return;
      // Never run two inits at once.
      if (this.#unsettled) return this.#scheduleRetry(this.#spacing.retryInterval);
      this.#attempt().catch(() => {});
    }, wait);
  }

  #watchUnsettled(settled: Promise<boolean>, attempt: number): void {
    let done = false;
    const watched = settled.then(() => {
      done = true;
      if (this.#unsettled === watched) this.#unsettled = undefined;
    });
    // `settled` was chained before this handler: an attempt that rejected on
    // its own is already done here, one that was timed out may not be.
    queueMicrotask(() => {
      if (done) return;
      this.#unsettled = watched;
      const timer = this.#clock.setTimeout(() => {
        if (!done) this.#onEvent({ type: "hung", attempt });
      }, this.#hangGrace);
      watched.then(() => this.#clock.clearTimeout(timer));
    });
  }

  #waitFor(promise: Promise<S>, signal?: AbortSignal): Promise<S> {
    return new Promise<S>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        cleanup();
        reject(new InitUnavailableError("ERR_ROTA_INIT_PENDING", seconds(this.#wait)));
      }, this.#wait);
      const abort = () => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = () => {
        this.#clock.clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
      };
      signal?.addEventListener("abort", abort, { once: true });
      promise.then(
        (state) => {
          cleanup();
          resolve(state);
        },
        (error) => {
          cleanup();
          reject(new InitUnavailableError("ERR_ROTA_INIT_FAILED", this.#retryAfter(), { cause: error }));
        },
      );
    });
  }
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
