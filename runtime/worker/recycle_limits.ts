/**
 * A worker's recycling limits: it asks its supervisor for a replacement once
 * it has answered its slot's share of `maxRequests`, or once its resident set
 * passes `maxMemory`. It keeps serving until the replacement is ready.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";

/** How often a worker with `maxMemory` set looks at its resident set size. */
export const MEMORY_CHECK_MS = 2000;

/** Why a worker asks to be recycled. */
export type RecycleReason = "max-requests" | "max-memory";

/** Options for {@linkcode RecycleLimits}. */
export interface RecycleLimitsOptions {
  /** Requests before asking; 0 never asks. */
  maxRequests: number;
  /** Resident bytes above which to ask; 0 never asks. */
  maxMemory: number;
  /** The clock the memory check runs on. */
  clock: Clock;
  /** This process's resident set size, in bytes. */
  memoryUsage(): number;
  /** Called once, when a limit is reached. */
  onLimit(reason: RecycleReason, detail: string): void;
}

/** Counts requests and watches memory; asks once. */
export class RecycleLimits {
  #options: RecycleLimitsOptions;
  #served = 0;
  #asked = false;
  #timer: TimerHandle | undefined;

  /** @param options The limits and what to call when one is reached. */
  constructor(options: RecycleLimitsOptions) {
    this.#options = options;
  }

  /** Count one request. */
  countRequest(): void {
    const { maxRequests } = this.#options;
    if (maxRequests > 0 && ++this.#served >= maxRequests) {
      this.#ask("max-requests", `answered ${this.#served} requests (limit ${maxRequests})`);
    }
  }

  /** Start looking at memory every {@linkcode MEMORY_CHECK_MS}, when `maxMemory` is set. */
  watchMemory(): void {
    const { maxMemory, clock, memoryUsage } = this.#options;
    if (maxMemory <= 0 || this.#asked) return;
    this.#timer = clock.setTimeout(() => {
      const rss = memoryUsage();
      if (rss <= maxMemory) return this.watchMemory();
      this.#ask("max-memory", `resident memory ${mebibytes(rss)} is above ${mebibytes(maxMemory)}`);
    }, MEMORY_CHECK_MS);
  }

  /** Stop looking. */
  stop(): void {
    this.#options.clock.clearTimeout(this.#timer);
  }

  #ask(reason: RecycleReason, detail: string): void {
    if (this.#asked) return;
    this.#asked = true;
    this.stop();
    this.#options.onLimit(reason, detail);
  }
}

function mebibytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)}MB`;
}
