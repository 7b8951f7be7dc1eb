/**
 * The restart policy: after a worker crashed, respawn it after how long, or
 * give up. A pure function of the slot's crash history, the crash, and the
 * time, so that it can be tested as a table.
 *
 * @module
 */

import { exponentialBackoff } from "../_async.ts";

/** Options for {@linkcode decideRestart} and {@linkcode retryDelay}. */
export interface RestartPolicy {
  /** The first wait, in milliseconds. @default {100} */
  minDelay?: number;
  /** The longest wait, in milliseconds. @default {30000} */
  maxDelay?: number;
  /** Share of each wait taken off at random, from 0 to 1. @default {0.2} */
  jitter?: number;
  /** A worker ready this long before it crashed resets its slot's count. @default {30000} */
  stableAfter?: number;
  /** Give up when one slot crashed more times in a row than this; 0 never gives up. @default {0} */
  maxRestarts?: number;
  /** Numbers in [0, 1) for the jitter. @default {Math.random} */
  random?: () => number;
}

/** What a slot remembers of its crashes. */
export interface CrashHistory {
  /** Crashes in a row, not counting the one being decided. */
  readonly consecutive: number;
}

/** The crash to decide about. */
export interface Crash {
  /** When the crashed worker first became ready; `undefined` when it never was. */
  readonly readyAt: number | undefined;
}

/** What to do after a crash. */
export type RestartDecision =
  | { readonly kind: "respawn"; readonly after: number; readonly history: CrashHistory }
  | { readonly kind: "give-up"; readonly history: CrashHistory; readonly reason: string };

/**
 * The wait before retry number `failures` (1 for the first), with back-off.
 *
 * @param failures Failures in a row so far, at least 1.
 * @param policy The back-off shape.
 * @returns Milliseconds.
 * @example
 * ```ts
 * retryDelay(3, { minDelay: 100, jitter: 0 }); // 400
 * ```
 */
export function retryDelay(failures: number, policy: RestartPolicy = {}): number {
  const { minDelay = 100, maxDelay = 30000, jitter = 0.2, random = Math.random } = policy;
  return exponentialBackoff(
    Math.max(0, failures - 1),
    { minTimeout: minDelay, maxTimeout: maxDelay, jitter },
    random,
  );
}

/**
 * Decide what follows a crash.
 *
 * A worker that had been ready for `stableAfter` counts as a fresh start: its
 * crash is the first in a row, so one crash a day never reaches the limit.
 *
 * @param history The slot's crashes before this one.
 * @param crash The crash.
 * @param now The time of the crash, on the same clock as `readyAt`.
 * @param policy Back-off and limit.
 * @returns Respawn after a wait, or give up.
 * @example
 * ```ts
 * decideRestart({ consecutive: 0 }, { readyAt: undefined }, 0, { jitter: 0 });
 * // { kind: "respawn", after: 100, history: { consecutive: 1 } }
 * ```
 */
export function decideRestart(
  history: CrashHistory,
  crash: Crash,
  now: number,
  policy: RestartPolicy = {},
): RestartDecision {
  const { stableAfter = 30000, maxRestarts = 0 } = policy;
  const stable = crash.readyAt !== undefined && now - crash.readyAt >= stableAfter;
  const consecutive = stable ? 1 : history.consecutive + 1;
  if (maxRestarts > 0 && consecutive > maxRestarts) {
    return {
      kind: "give-up",
      history: { consecutive },
      reason: `crashed ${consecutive} times in a row (--max-restarts ${maxRestarts})`,
    };
  }
  return { kind: "respawn", after: retryDelay(consecutive, policy), history: { consecutive } };
}
