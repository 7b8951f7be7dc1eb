/**
 * What each answered request leaves behind in a worker: its duration in a
 * histogram that the next heartbeat carries to the supervisor (as a delta,
 * so the supervisor adds up every worker's, those gone included), and, with
 * `--access-log`, one line in the Common Log Format on standard output.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { type AccessLogOptions, formatAccessLog } from "../ops/access_log.ts";
import { createHistogram, type Histogram, observe, REQUEST_SECONDS_BOUNDS } from "../ops/histogram.ts";
import type { HistogramDelta } from "../protocol.ts";

/**
 * Access log lines are written in batches, at most this long after their
 * request: standard output to a pipe or a file is written synchronously on
 * Linux, and one write per request halved a worker's throughput.
 */
export const ACCESS_LOG_FLUSH_MS = 50;

/** A batch is written at once when it holds this many lines. */
export const ACCESS_LOG_BATCH = 256;

/** Options for {@linkcode RequestMetrics}. */
export interface RequestMetricsOptions {
  /** Where durations are measured. */
  clock: Clock;
  /** Epoch milliseconds, for access log lines. @default {Date.now} */
  wallClock?: () => number;
  /** `off`, or the access log's format. @default {"off"} */
  accessLog?: "off" | NonNullable<AccessLogOptions["format"]>;
  /** Where access log lines go (with their line break). */
  write?: (text: string) => void;
}

/**
 * A worker's request durations and access log.
 *
 * @example
 * ```ts
 * const metrics = new RequestMetrics({ clock, accessLog: "common", write: host.writeOut });
 * const start = metrics.start();
 * const response = await handle(request);
 * metrics.answered(request, response, start);
 * heartbeat.requestSeconds = metrics.take();
 * ```
 */
export class RequestMetrics {
  #clock: Clock;
  #wallClock: () => number;
  #format: "off" | NonNullable<AccessLogOptions["format"]>;
  #write: (text: string) => void;
  #histogram: Histogram = createHistogram(REQUEST_SECONDS_BOUNDS);
  #lines: string[] = [];
  #flushTimer: TimerHandle | undefined;

  /** @param options The clock and the access log. */
  constructor(options: RequestMetricsOptions) {
    const { clock, wallClock = Date.now, accessLog = "off", write = () => {} } = options;
    this.#clock = clock;
    this.#wallClock = wallClock;
    this.#format = accessLog;
    this.#write = write;
  }

  /**
   * A request arrived.
   *
   * @returns Its start, for {@linkcode RequestMetrics.answered}.
   */
  start(): number {
    return this.#clock.now();
  }

  /**
   * A request has its answer (its head is ready to go out).
   *
   * @param request The request.
   * @param response The answer.
   * @param start What {@linkcode RequestMetrics.start} returned.
   */
  answered(request: Request, response: Response, start: number): void {
    const ms = this.#clock.now() - start;
    observe(this.#histogram, ms / 1000);
    if (this.#format === "off") return;
    this.#lines.push(
      formatAccessLog({
        request,
        status: response.status,
        // Not `response.headers` for a Content-Length: on Node that one read turns
        // @hono/node-server's light response into a full one (-35% req/s measured),
        // and most bodies have no length yet. The size stays "-" until the
        // adapter reports the bytes it wrote.
        start: this.#wallClock() - ms,
        durationMs: ms,
      }, { format: this.#format }),
    );
    if (this.#lines.length >= ACCESS_LOG_BATCH) this.flush();
    else this.#flushTimer ??= this.#clock.setTimeout(() => this.flush(), ACCESS_LOG_FLUSH_MS);
  }

  /** Write the access log lines not written yet (the worker is about to exit). */
  flush(): void {
    this.#clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#lines.length === 0) return;
    const text = `${this.#lines.join("\n")}\n`;
    this.#lines = [];
    this.#write(text);
  }

  /**
   * The durations observed since the last call, and start afresh.
   *
   * @returns The delta, or `undefined` when no request was answered meanwhile.
   */
  take(): HistogramDelta | undefined {
    const taken = this.#histogram;
    if (taken.count === 0) return undefined;
    this.#histogram = createHistogram(REQUEST_SECONDS_BOUNDS);
    return { counts: taken.counts, sum: taken.sum, count: taken.count };
  }
}
