/**
 * The warm-up of a new worker: the requests the app named, run through its
 * `fetch` in this process (no network), again and again for a bounded time,
 * after `init` succeeded and before the worker takes connections. A cold V8
 * or JavaScriptCore serves its first second at 0.7–0.8× of a warm one; the
 * clients of a replacement should not pay for that.
 *
 * @module
 */

import type { App, Env, ExecutionContext, Warmup } from "../app.ts";
import type { Clock } from "../clock.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** Options for {@linkcode warmUp}. */
export interface WarmUpOptions {
  /** The app. */
  readonly app: App;
  /** What the app named. */
  readonly warmup: Warmup;
  /** The worker's own address, to resolve paths against. */
  readonly origin: string;
  /** The `env` and execution context a request gets. */
  env(context: ExecutionContext): Env;
  /** The clock the duration runs on. */
  readonly clock: Clock;
  /** Where a failing warm-up request is logged (once). */
  readonly log: Logger;
  /** Stops the warm-up early (the worker drains, or nobody else serves any more). */
  readonly signal?: AbortSignal;
}

/**
 * Run the warm-up.
 *
 * @param options The app, its warm-up, and the worker around it.
 * @returns How many requests ran, and for how long.
 */
export async function warmUp(options: WarmUpOptions): Promise<{ requests: number; ms: number }> {
  const { app, warmup, origin, env, clock, log, signal } = options;
  const { requests, duration = 1000 } = warmup;
  const started = clock.now();
  let count = 0;
  let failed = false;
  while (requests.length > 0 && clock.now() - started < duration && !signal?.aborted) {
    for (const request of requests) {
      const made = typeof request === "string" ? new Request(new URL(request, origin)) : request.clone();
      const context: ExecutionContext = { waitUntil: () => {}, passThroughOnException() {}, props: {} };
      try {
        const response = await app.fetch(made, env(context), context);
        await response.arrayBuffer();
      } catch (error) {
        if (!failed) {
          log.warn(`warm-up request ${made.method} ${new URL(made.url).pathname} failed: ${describeError(error)}`);
        }
        failed = true;
      }
      count++;
    }
    // Let timers and messages through (the heartbeat among them) between rounds.
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 0));
  }
  return { requests: count, ms: Math.round(clock.now() - started) };
}
