/**
 * A worker's own recycling limit: it asks its supervisor for a replacement
 * once it has answered its slot's share of `maxRequests`, and keeps serving
 * until the replacement is ready. (Memory is measured by the supervisor, from
 * outside, so that a worker whose event loop is blocked is still measured:
 * see `supervisor/memory_watch.ts`.)
 *
 * @module
 */

/** Why a worker asks to be recycled. */
export type RecycleReason = "max-requests";

/** Options for {@linkcode RecycleLimits}. */
export interface RecycleLimitsOptions {
  /** Requests before asking; 0 never asks. */
  maxRequests: number;
  /** Called once, when the limit is reached. */
  onLimit(reason: RecycleReason, detail: string): void;
}

/** Counts requests; asks once. */
export class RecycleLimits {
  #options: RecycleLimitsOptions;
  #served = 0;
  #asked = false;

  /** @param options The limit and what to call when it is reached. */
  constructor(options: RecycleLimitsOptions) {
    this.#options = options;
  }

  /** Count one request. */
  countRequest(): void {
    const { maxRequests } = this.#options;
    if (maxRequests > 0 && ++this.#served >= maxRequests && !this.#asked) {
      this.#asked = true;
      this.#options.onLimit("max-requests", `answered ${this.#served} requests (limit ${maxRequests})`);
    }
  }
}
