/**
 * The rota's health, told to every worker: at once when it changes, and
 * every `interval` otherwise, from a timer on the supervisor's own event
 * loop. Workers answer the health paths on the app port with it, and judge
 * the supervisor alive while it keeps coming (`runtime/worker/health.ts`).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { RotaHealth } from "../protocol.ts";

/** How often the health is repeated when nothing changes. */
export const HEALTH_INTERVAL_MS = 1000;

/** Options for {@linkcode HealthBroadcast}. */
export interface HealthBroadcastOptions {
  /** The timer's clock. */
  clock: Clock;
  /** Send the health to every live worker. */
  send(health: RotaHealth): void;
  /** Milliseconds between repeats. @default {HEALTH_INTERVAL_MS} */
  interval?: number;
}

function same(a: RotaHealth, b: RotaHealth): boolean {
  return a.ready === b.ready && a.workersReady === b.workersReady && a.phase === b.phase && a.pid === b.pid;
}

/**
 * The health, sent on change and repeated.
 *
 * @example
 * ```ts
 * const broadcast = new HealthBroadcast({ clock, send: (health) => tellEveryWorker(health) });
 * broadcast.start(initial);
 * broadcast.update({ ...initial, ready: false }); // sent at once
 * broadcast.stop();
 * ```
 */
export class HealthBroadcast {
  #clock: Clock;
  #send: (health: RotaHealth) => void;
  #interval: number;
  #current: RotaHealth | undefined;
  #timer: TimerHandle | undefined;

  /** @param options Clock, sender and interval. */
  constructor(options: HealthBroadcastOptions) {
    const { clock, send, interval = HEALTH_INTERVAL_MS } = options;
    this.#clock = clock;
    this.#send = send;
    this.#interval = interval;
  }

  /** The health last sent (or to be sent to a new worker). */
  get current(): RotaHealth | undefined {
    return this.#current;
  }

  /**
   * Start repeating.
   *
   * @param health The health now.
   */
  start(health: RotaHealth): void {
    this.#current = health;
    if (this.#timer !== undefined) return;
    const repeat = () => {
      this.#timer = this.#clock.setTimeout(repeat, this.#interval);
      if (this.#current) this.#send(this.#current);
    };
    this.#timer = this.#clock.setTimeout(repeat, this.#interval);
  }

  /**
   * The health may have changed: send it when it did.
   *
   * @param health The health now.
   */
  update(health: RotaHealth): void {
    if (this.#current && same(this.#current, health)) return;
    this.#current = health;
    this.#send(health);
  }

  /** Stop repeating. */
  stop(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
