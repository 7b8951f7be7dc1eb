/**
 * `waitUntil`: work a request leaves behind after its answer, which the worker
 * finishes before it exits.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** The work still running that was handed to `waitUntil`. */
export class PendingWork {
  #pending = new Set<Promise<unknown>>();
  #log: Logger;

  /** @param log Where a rejection is logged. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** How many promises are still pending. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Track `promise` until it settles; a rejection is logged, never thrown.
   *
   * @param promise The work.
   */
  add(promise: Promise<unknown>): void {
    const tracked = Promise.resolve(promise)
      .catch((error) => this.#log.error(`waitUntil promise rejected: ${describeError(error)}`))
      .finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /**
   * Resolve once nothing is pending, including work added while waiting (a
   * `waitUntil` callback may register more).
   *
   * @returns When every tracked promise has settled.
   */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }
}
