/**
 * A cumulative-bucket histogram as plain data: a worker observes into its
 * own, sends it over IPC as JSON, and the supervisor adds them up.
 *
 * @module
 */

/**
 * Counts of observations by upper bound, in the shape Prometheus exposes.
 * `counts[i]` counts observations `<= bounds[i]` and above the previous bound;
 * the last entry (`counts[bounds.length]`) counts those above every bound.
 */
export interface Histogram {
  /** Upper bounds, strictly increasing, finite; `+Inf` is implied. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative), `bounds.length + 1` entries. */
  readonly counts: number[];
  /** Sum of every observed value. */
  sum: number;
  /** How many values were observed. */
  count: number;
}

/** Bounds for request durations in seconds (prom-client's defaults). */
export const REQUEST_SECONDS_BOUNDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Bounds for `init` durations in seconds: a slow init is the reason rota exists. */
export const INIT_SECONDS_BOUNDS: readonly number[] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * An empty histogram.
 *
 * @param bounds Finite upper bounds in increasing order.
 * @returns A histogram with no observations.
 * @throws {RangeError} When the bounds are not finite and strictly increasing.
 * @example
 * ```ts
 * const h = createHistogram([0.1, 1]);
 * observe(h, 0.3); // h.counts is [0, 1, 0]
 * ```
 */
export function createHistogram(bounds: readonly number[] = REQUEST_SECONDS_BOUNDS): Histogram {
  bounds.forEach((bound, i) => {
    if (!Number.isFinite(bound) || (i > 0 && bound <= bounds[i - 1])) {
      throw new RangeError(
        `Cannot create histogram as 'bounds' must be finite and strictly increasing: current value is [${bounds}]`,
      );
    }
  });
  return { bounds: [...bounds], counts: new Array(bounds.length + 1).fill(0), sum: 0, count: 0 };
}

/**
 * Record one value.
 *
 * @param histogram Where to record it (changed in place).
 * @param value The observation, e.g. a duration in seconds; NaN is ignored.
 * @example
 * ```ts
 * observe(histogram, elapsedMs / 1000);
 * ```
 */
export function observe(histogram: Histogram, value: number): void {
  if (Number.isNaN(value)) return;
  let i = 0;
  while (i < histogram.bounds.length && value > histogram.bounds[i]) i++;
  histogram.counts[i]++;
  histogram.sum += value;
  histogram.count++;
}

/**
 * Add histograms up, e.g. what every worker reported.
 *
 * @param bounds The bounds every input must have.
 * @param histograms The inputs, left unchanged.
 * @returns A new histogram holding every observation of the inputs.
 * @throws {RangeError} When an input has other bounds.
 * @example
 * ```ts
 * const all = mergeHistograms(REQUEST_SECONDS_BOUNDS, workers.map((w) => w.requestSeconds));
 * ```
 */
export function mergeHistograms(bounds: readonly number[], histograms: Iterable<Histogram>): Histogram {
  const total = createHistogram(bounds);
  for (const histogram of histograms) {
    if (
      histogram.bounds.length !== bounds.length || histogram.bounds.some((bound, i) => bound !== bounds[i]) ||
      histogram.counts.length !== bounds.length + 1
    ) {
      throw new RangeError(
        `Cannot merge histograms as their 'bounds' differ: expected [${bounds}], current value is [${histogram.bounds}]`,
      );
    }
    histogram.counts.forEach((n, i) => (total.counts[i] += n));
    total.sum += histogram.sum;
    total.count += histogram.count;
  }
  return total;
}

/**
 * The cumulative counts Prometheus exposes as `_bucket{le=...}`, `+Inf` last.
 *
 * @param histogram The histogram.
 * @returns One `[le, cumulative count]` pair per bound, then `[Infinity, count]`.
 */
export function cumulativeBuckets(histogram: Histogram): Array<[number, number]> {
  let running = 0;
  return histogram.counts.map((n, i) => {
    running += n;
    return [i < histogram.bounds.length ? histogram.bounds[i] : Infinity, running];
  });
}
