/**
 * The heartbeat: a message to the supervisor every `interval`, sent by a timer
 * on the worker's own event loop from the worker's first moment (before the
 * app is imported), so that a loop blocked anywhere (a spinning handler, a
 * synchronous import or `init`) or a stopped process falls silent, and the
 * supervisor's watchdog can kill it. Each beat also says what the worker is
 * doing, for the watchdog's log line and for metrics.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { HeartbeatMessage } from "../protocol.ts";

/** What a heartbeat reports besides the loop's lag. */
export type HeartbeatReading = Omit<HeartbeatMessage, "rota" | "type" | "loopLagMs">;

/** Options for {@linkcode Heartbeat}. */
export interface HeartbeatOptions {
  /** The clock the beats run on. */
  clock: Clock;
  /** Milliseconds between beats. */
  interval: number;
  /** What the worker is doing now; read at every beat. */
  read(): HeartbeatReading;
  /** Where beats go; resolves once a beat is written out. */
  send(message: HeartbeatMessage): Promise<void>;
}

/**
 * A worker's heartbeat.
 *
 * @example
 * ```ts
 * const heartbeat = new Heartbeat({ clock, interval: 1000, read, send });
 * heartbeat.start();
 * ```
 */
export class Heartbeat {
  #options: HeartbeatOptions;
  #timer: TimerHandle | undefined;
  #running = false;

  /** @param options The clock, the interval, and what to read and where to send it. */
  constructor(options: HeartbeatOptions) {
    this.#options = options;
  }

  /**
   * Send a beat now, then one every interval until {@linkcode Heartbeat.stop}.
   *
   * @returns When the first beat is written out.
   */
  start(): Promise<void> {
    if (this.#running) return Promise.resolve();
    this.#running = true;
    return this.#beat(0);
  }

  /** Send a beat now, out of turn (what the worker does changed); the schedule stays as it is. */
  pulse(): void {
    if (!this.#running) return;
    const { read, send } = this.#options;
    void send({ rota: 1, type: "heartbeat", ...read(), loopLagMs: 0 });
  }

  /** Stop beating. */
  stop(): void {
    this.#running = false;
    this.#options.clock.clearTimeout(this.#timer);
  }

  #beat(loopLagMs: number): Promise<void> {
    const { clock, interval, read, send } = this.#options;
    const sent = send({ rota: 1, type: "heartbeat", ...read(), loopLagMs: Math.round(loopLagMs) });
    const due = clock.now() + interval;
    this.#timer = clock.setTimeout(() => {
      if (this.#running) void this.#beat(Math.max(0, clock.now() - due));
    }, interval);
    return sent;
  }
}
