/**
 * The rollout: which slots want a replacement, and how many replacements are
 * under way at once. This is the heart of replacement-first recycling: a
 * slot's old worker keeps serving until its replacement is ready (the
 * supervisor then promotes it), and at most `maxSurge` replacements run across
 * the rota, so workers never all recycle at once.
 *
 * A replacement that fails (it crashed, or was killed for not getting ready)
 * is retried after a back-off that grows with the slot's failures in a row.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { type RestartPolicy, retryDelay } from "./restart_policy.ts";

/** Options for {@linkcode Rollout}. */
export interface RolloutOptions {
  /** Replacements under way at once, across the rota. @default {1} */
  maxSurge?: number;
  /** The clock for back-off waits. */
  clock: Clock;
  /** Back-off after a failed replacement. @default {{}} */
  backoff?: RestartPolicy;
  /**
   * Start a replacement for `slot`. Returns false when it cannot now (the slot
   * has no worker to replace, or the rota is stopping): the request is dropped.
   */
  start(slot: number): boolean;
}

/** Replacement-first recycling: a queue of slots, at most `maxSurge` at a time. */
export class Rollout {
  #maxSurge: number;
  #clock: Clock;
  #backoff: RestartPolicy;
  #start: (slot: number) => boolean;
  #queue: number[] = [];
  #underWay = new Set<number>();
  #failures = new Map<number, number>();
  #waiting = new Map<number, TimerHandle>();
  /** Slots asked for fresh code while their replacement was already under way: replaced once more after. */
  #again = new Set<number>();
  #stopped = false;

  /** @param options Surge, clock, back-off, and how to start a replacement. */
  constructor(options: RolloutOptions) {
    const { maxSurge = 1, clock, backoff = {}, start } = options;
    this.#maxSurge = maxSurge;
    this.#clock = clock;
    this.#backoff = backoff;
    this.#start = start;
  }

  /** Replacements under way now. */
  get underWay(): number {
    return this.#underWay.size;
  }

  /**
   * Ask for a replacement of `slot`. A slot already queued, or backing off, is
   * not queued twice. For a `reload` (fresh code) while the slot's replacement
   * is already under way, that replacement may have loaded the old code, so
   * the slot is replaced once more after it: reloads coalesce, never drop. A
   * `recycle` while under way is the same request again and is dropped.
   *
   * @param slot The slot.
   * @param why `reload` for fresh code, `recycle` for a worker that reached a limit.
   */
  request(slot: number, why: "reload" | "recycle" = "recycle"): void {
    if (this.#stopped || this.#queue.includes(slot) || this.#waiting.has(slot)) return;
    if (this.#underWay.has(slot)) {
      if (why === "reload") this.#again.add(slot);
      return;
    }
    this.#queue.push(slot);
    this.startQueued();
  }

  /**
   * The slot's replacement is ready and now serves: the slot is done.
   *
   * @param slot The slot.
   */
  promoted(slot: number): void {
    this.#underWay.delete(slot);
    this.#failures.delete(slot);
    this.#requeueIfAskedAgain(slot);
    this.startQueued();
  }

  /**
   * The slot's replacement took over early because the worker it was to
   * replace went away: the slot is done, neither promoted nor failed.
   *
   * @param slot The slot.
   */
  adopted(slot: number): void {
    this.#underWay.delete(slot);
    this.#requeueIfAskedAgain(slot);
    this.startQueued();
  }

  /**
   * The slot's replacement failed: try again after a back-off.
   *
   * @param slot The slot.
   * @returns The failures in a row and the wait before the next try, in milliseconds.
   */
  failed(slot: number): { failures: number; wait: number } {
    this.#underWay.delete(slot);
    // The retry spawns a fresh process, which loads the code as it is then.
    this.#again.delete(slot);
    const failures = (this.#failures.get(slot) ?? 0) + 1;
    this.#failures.set(slot, failures);
    const wait = retryDelay(failures, this.#backoff);
    if (!this.#stopped) {
      this.#waiting.set(
        slot,
        this.#clock.setTimeout(() => {
          this.#waiting.delete(slot);
          this.request(slot);
        }, wait),
      );
    }
    this.startQueued();
    return { failures, wait };
  }

  /**
   * Forget the slot's queued request or back-off: the worker it was for is
   * gone, and its respawn starts fresh anyway.
   *
   * @param slot The slot.
   */
  cancel(slot: number): void {
    this.#queue = this.#queue.filter((queued) => queued !== slot);
    this.#again.delete(slot);
    this.#clock.clearTimeout(this.#waiting.get(slot));
    this.#waiting.delete(slot);
  }

  #requeueIfAskedAgain(slot: number): void {
    if (!this.#again.delete(slot) || this.#stopped || this.#queue.includes(slot)) return;
    this.#queue.push(slot);
  }

  /** Start queued replacements while there is room. */
  startQueued(): void {
    while (!this.#stopped && this.#underWay.size < this.#maxSurge && this.#queue.length > 0) {
      const slot = this.#queue.shift()!;
      if (this.#start(slot)) this.#underWay.add(slot);
    }
  }

  /** Forget every queued request and back-off; nothing starts any more. */
  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#again.clear();
    for (const timer of this.#waiting.values()) this.#clock.clearTimeout(timer);
    this.#waiting.clear();
  }
}
