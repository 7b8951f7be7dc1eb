/** The suite's one table: medians, ranges, ratios to the row each row is compared with, and issue 9's targets. */

/** What a row measures. */
export type Unit = "req/s" | "ms" | "MB";

/** One target of issue 9, checked against a row. */
export interface Check {
  readonly label: string;
  readonly met: boolean;
}

/** One row: a contender's samples, and optionally the samples it is compared with. */
export interface Row {
  comparison: string;
  runtime: string;
  workers: number | "";
  contender: string;
  unit: Unit;
  samples: number[];
  /** The row this one is divided by (paired run by run when both have as many samples). */
  vs?: { label: string; samples: number[] };
  p99?: number[];
  p99Vs?: number[];
  errors?: number;
  noWorkerReadyMs?: number | string;
  recycles?: number | string;
  checks?: Check[];
}

/** The median of the samples (NaN for none). */
export function median(samples: readonly number[]): number {
  const sorted = samples.filter((n) => !Number.isNaN(n)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * This row over the other: the median of run-by-run ratios when the runs pair
 * up (each pair ran back to back, so drift cancels), else the ratio of medians.
 */
export function ratios(samples: readonly number[], vs: readonly number[]): number[] {
  if (samples.length === vs.length) return samples.map((s, i) => s / vs[i]);
  return [median(samples) / median(vs)];
}

function range(samples: readonly number[], format: (n: number) => string): string {
  const clean = samples.filter((n) => !Number.isNaN(n));
  if (clean.length < 2) return "";
  return `${format(Math.min(...clean))}–${format(Math.max(...clean))}`;
}

function value(n: number, unit: Unit): string {
  if (Number.isNaN(n)) return "n/a";
  if (unit === "req/s") {
    return n >= 10000 ? `${(n / 1000).toFixed(1)}k` : n >= 1000 ? `${(n / 1000).toFixed(2)}k` : `${Math.round(n)}`;
  }
  if (unit === "ms") return n >= 100 ? `${Math.round(n)}` : n.toFixed(1);
  return n.toFixed(1);
}

const ratio = (n: number) => (Number.isNaN(n) ? "n/a" : n.toFixed(2));
const ms = (n: number) => (n >= 100 ? `${Math.round(n)}` : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** The columns, in order. */
const HEAD = [
  "comparison",
  "runtime",
  "W",
  "contender",
  "median",
  "min–max",
  "n",
  "×",
  "compared with",
  "p99 ms (min–max)",
  "p99 ×",
  "errors",
  "no worker ready ms",
  "recycles",
  "issue 9 target",
];

function cells(row: Row): string[] {
  const r = row.vs ? ratios(row.samples, row.vs.samples) : [];
  const p99r = row.p99 && row.p99Vs ? ratios(row.p99, row.p99Vs) : [];
  const p99 = row.p99 ? `${ms(median(row.p99))}${range(row.p99, ms) ? ` (${range(row.p99, ms)})` : ""}` : "";
  return [
    row.comparison,
    row.runtime,
    String(row.workers),
    row.contender,
    `${value(median(row.samples), row.unit)} ${row.unit}`,
    range(row.samples, (n) => value(n, row.unit)),
    String(row.samples.length),
    r.length ? `${ratio(median(r))}${r.length > 1 ? ` (${range(r, ratio)})` : ""}` : "",
    row.vs?.label ?? "",
    p99,
    p99r.length ? ratio(median(p99r)) : "",
    row.errors === undefined ? "" : String(row.errors),
    row.noWorkerReadyMs === undefined ? "" : String(row.noWorkerReadyMs),
    row.recycles === undefined ? "" : String(row.recycles),
    (row.checks ?? []).map((c) => `${c.met ? "✓" : "✗"} ${c.label}`).join("; "),
  ];
}

/**
 * Render the rows as a Markdown table (pipes in cells escaped).
 *
 * @param rows The rows, in order.
 * @returns The table.
 */
export function markdownTable(rows: readonly Row[]): string {
  const line = (values: string[]) => `| ${values.map((v) => v.replaceAll("|", "\\|")).join(" | ")} |`;
  const align = HEAD.map((
    h,
  ) => (["median", "min–max", "n", "×", "p99 ×", "errors", "no worker ready ms", "recycles"].includes(h)
    ? "---:"
    : "---")
  );
  return [line(HEAD), `|${align.join("|")}|`, ...rows.map((row) => line(cells(row)))].join("\n");
}

/** The ratio a target is checked against: the median of the paired ratios. */
export function rowRatio(row: Row): number {
  return row.vs ? median(ratios(row.samples, row.vs.samples)) : NaN;
}

/** The p99 ratio a target is checked against. */
export function p99Ratio(row: Row): number {
  return row.p99 && row.p99Vs ? median(ratios(row.p99, row.p99Vs)) : NaN;
}

/**
 * Put `body` between the markers in `text`.
 *
 * @throws {Error} When the markers are missing.
 */
export function replaceBetween(text: string, begin: string, end: string, body: string): string {
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`markers ${begin} … ${end} not found`);
  return `${text.slice(0, from + begin.length)}\n${body}\n${text.slice(to)}`;
}
