/**
 * Rate-limited warnings: at most `limit` lines per source per window, then one
 * line with the count of the rest when the window ends. A flood (an app
 * sending 200,000 malformed IPC messages a second, a client sending oversized
 * bodies in a loop) then costs a few log lines and a counter, not megabytes of
 * log and a supervisor whose memory grows with its stderr backlog.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";
import type { Logger } from "./log.ts";

/** Options for {@linkcode WarningThrottle}. */
export interface WarningThrottleOptions {
  /** Where lines go. */
  log: Logger;
  /** The clock windows run on. */
  clock: Clock;
  /** Lines per source per window. @default {5} */
  limit?: number;
  /** The window, in milliseconds. @default {1000} */
  windowMs?: number;
}

interface Window {
  logged: number;
  suppressed: number;
  readonly timer: TimerHandle;
}

/**
 * Warnings, a few per source per second.
 *
 * @example
 * ```ts
 * const throttle = new WarningThrottle({ log, clock });
 * throttle.warn("worker 0.1", "ignored a malformed message from worker 0.1: ...");
 * ```
 */
export class WarningThrottle {
  #log: Logger;
  #clock: Clock;
  #limit: number;
  #windowMs: number;
  #windows = new Map<string, Window>();

  /** @param options The log, the clock, and how many lines per window. */
  constructor(options: WarningThrottleOptions) {
    const { log, clock, limit = 5, windowMs = 1000 } = options;
    this.#log = log;
    this.#clock = clock;
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /**
   * Log a warning, unless `source` already used up its lines in this window.
   *
   * @param source Who the warning is about; each source has its own budget.
   * @param message The line.
   * @param fields Extra fields for the line.
   */
  warn(source: string, message: string, fields?: Record<string, unknown>): void {
    let window = this.#windows.get(source);
    if (!window) {
      const timer = this.#clock.setTimeout(() => this.#close(source), this.#windowMs);
      window = { logged: 0, suppressed: 0, timer };
      this.#windows.set(source, window);
    }
    if (window.logged < this.#limit) {
      window.logged++;
      this.#log.warn(message, fields);
    } else {
      window.suppressed++;
    }
  }

  /** Report what is still suppressed and stop every window's timer. */
  flush(): void {
    for (const source of [...this.#windows.keys()]) {
      this.#clock.clearTimeout(this.#windows.get(source)!.timer);
      this.#close(source);
    }
  }

  #close(source: string): void {
    const window = this.#windows.get(source);
    if (!window) return;
    this.#windows.delete(source);
    if (window.suppressed > 0) {
      this.#log.warn(
        `suppressed ${window.suppressed} similar warnings about ${source} in the last ${this.#windowMs}ms`,
      );
    }
  }
}
