/**
 * Prometheus text exposition (format 0.0.4) of a {@linkcode RotaSnapshot}:
 * rota's own metrics, and each worker's process metrics under the names of
 * prom-client's defaults with `worker` and `pid` labels, so existing
 * dashboards find them.
 *
 * @module
 */

import { cumulativeBuckets, type Histogram } from "./histogram.ts";
import { countByState, type RotaSnapshot, WORKER_STATES, workerName, type WorkerSnapshot } from "./snapshot.ts";

/** The `Content-Type` of a scrape answer. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names to values. */
export type Labels = Readonly<Record<string, string | number>>;

/** One metric family: its samples share a name, a type and a help text. */
export type MetricFamily =
  | {
    readonly name: string;
    readonly help: string;
    readonly type: "counter" | "gauge";
    readonly samples: ReadonlyArray<{ readonly labels?: Labels; readonly value: number }>;
  }
  | {
    readonly name: string;
    readonly help: string;
    readonly type: "histogram";
    readonly samples: ReadonlyArray<{ readonly labels?: Labels; readonly histogram: Histogram }>;
  };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatLabels(labels: Labels | undefined, extra?: [string, string]): string {
  const pairs = Object.entries(labels ?? {}).map(([name, value]): [string, string] => [name, String(value)]);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  for (const [name] of pairs) {
    if (!LABEL.test(name) || name.startsWith("__")) {
      throw new RangeError(`Cannot render metrics as label name '${name}' is not valid`);
    }
  }
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

/**
 * Render metric families as Prometheus text format 0.0.4.
 *
 * @param families The families; one with no samples is left out.
 * @returns The exposition, ending with a newline.
 * @throws {RangeError} For an invalid metric or label name.
 * @example
 * ```ts
 * renderExposition([{ name: "up", help: "Up.", type: "gauge", samples: [{ value: 1 }] }]);
 * // "# HELP up Up.\n# TYPE up gauge\nup 1\n"
 * ```
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!NAME.test(family.name)) throw new RangeError(`Cannot render metrics as '${family.name}' is not a valid name`);
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type === "histogram") {
      for (const { labels, histogram } of family.samples) {
        for (const [le, count] of cumulativeBuckets(histogram)) {
          lines.push(`${family.name}_bucket${formatLabels(labels, ["le", formatValue(le)])} ${count}`);
        }
        lines.push(`${family.name}_sum${formatLabels(labels)} ${formatValue(histogram.sum)}`);
        lines.push(`${family.name}_count${formatLabels(labels)} ${histogram.count}`);
      }
    } else {
      for (const { labels, value } of family.samples) {
        lines.push(`${family.name}${formatLabels(labels)} ${formatValue(value)}`);
      }
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function perWorker(
  workers: readonly WorkerSnapshot[],
  read: (worker: WorkerSnapshot) => number | undefined,
): Array<{ labels: Labels; value: number }> {
  const samples: Array<{ labels: Labels; value: number }> = [];
  for (const worker of workers) {
    const value = read(worker);
    if (value !== undefined) samples.push({ labels: { worker: workerName(worker), pid: worker.pid }, value });
  }
  return samples;
}

/**
 * The metric families of a snapshot. Workers that have exited have no
 * per-worker series; their requests and durations stay in the totals.
 *
 * @param snapshot The rota now.
 * @returns The families, rota's own first.
 */
export function snapshotMetrics(snapshot: RotaSnapshot): MetricFamily[] {
  const { counters, histograms } = snapshot;
  const live = snapshot.workers.filter((worker) => worker.state !== "exited");
  const byState = countByState(snapshot.workers);
  const total = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: "counter",
    samples: [{ value }],
  });
  return [
    {
      name: "rota_info",
      help: "rota's version and runtime; always 1.",
      type: "gauge",
      samples: [{ labels: { version: snapshot.version, runtime: snapshot.runtime }, value: 1 }],
    },
    {
      name: "rota_ready",
      help: "1 while at least one worker is ready and rota is not stopping, else 0.",
      type: "gauge",
      samples: [{ value: snapshot.ready ? 1 : 0 }],
    },
    {
      name: "rota_start_time_seconds",
      help: "When the supervisor started, in seconds since the Unix epoch.",
      type: "gauge",
      samples: [{ value: snapshot.startedAt / 1000 }],
    },
    {
      name: "rota_workers",
      help: "Worker processes by state.",
      type: "gauge",
      samples: WORKER_STATES.filter((state) => state !== "exited").map((state) => ({
        labels: { state },
        value: byState[state],
      })),
    },
    {
      name: "rota_worker_requests_total",
      help: "Requests a worker answered.",
      type: "counter",
      samples: perWorker(live, (worker) => worker.requests),
    },
    {
      name: "rota_worker_in_flight_requests",
      help: "Requests a worker is answering now.",
      type: "gauge",
      samples: perWorker(live, (worker) => worker.inFlight),
    },
    {
      name: "rota_request_duration_seconds",
      help: "Time from a request reaching a worker to its response headers, over every worker.",
      type: "histogram",
      samples: [{ histogram: histograms.requestSeconds }],
    },
    {
      name: "rota_init_attempts_total",
      help: "Runs of the app's init hook by result.",
      type: "counter",
      samples: [
        { labels: { result: "ok" }, value: counters.initAttempts.ok },
        { labels: { result: "failed" }, value: counters.initAttempts.failed },
      ],
    },
    {
      name: "rota_init_duration_seconds",
      help: "Duration of the app's init hook, successful or not.",
      type: "histogram",
      samples: [{ histogram: histograms.initSeconds }],
    },
    {
      name: "rota_recycles_total",
      help: "Workers replaced on purpose, by reason.",
      type: "counter",
      samples: Object.entries(counters.recycles).map(([reason, value]) => ({ labels: { reason }, value })),
    },
    total("rota_replacements_total", "Replacement workers promoted in place of an old one.", counters.replacements),
    total("rota_crashes_total", "Workers that exited without being asked to.", counters.crashes),
    total("rota_restarts_total", "Workers respawned after a crash.", counters.restarts),
    total(
      "rota_watchdog_kills_total",
      "Workers killed because their event loop stopped turning.",
      counters.watchdogKills,
    ),
    {
      name: "rota_config_version",
      help: "Version of the shared configuration (counts from 0 at each start).",
      type: "gauge",
      samples: [{ value: snapshot.configVersion }],
    },
    total(
      "rota_no_worker_ready_seconds_total",
      "Time during which rota ran with no worker ready.",
      counters.noWorkerReadyMs / 1000,
    ),
    {
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      type: "gauge",
      samples: perWorker(live, (worker) => worker.rss),
    },
    {
      name: "nodejs_heap_size_used_bytes",
      help: "Process heap size used in bytes.",
      type: "gauge",
      samples: perWorker(live, (worker) => worker.heapUsed),
    },
    {
      name: "nodejs_eventloop_lag_seconds",
      help: "Lag of event loop in seconds.",
      type: "gauge",
      samples: perWorker(live, (worker) => worker.eventLoopLagSeconds),
    },
    {
      name: "process_start_time_seconds",
      help: "Start time of the process since unix epoch in seconds.",
      type: "gauge",
      samples: perWorker(live, (worker) => worker.startedAt / 1000),
    },
  ];
}

/**
 * The scrape answer for a snapshot.
 *
 * @param snapshot The rota now.
 * @returns Prometheus text format 0.0.4; serve it as {@linkcode PROMETHEUS_CONTENT_TYPE}.
 * @example
 * ```ts
 * new Response(renderMetrics(snapshot), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
 * ```
 */
export function renderMetrics(snapshot: RotaSnapshot): string {
  return renderExposition(snapshotMetrics(snapshot));
}
