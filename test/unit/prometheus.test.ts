import assert from "node:assert/strict";
import { test } from "node:test";
import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";
import { createHistogram, mergeHistograms, observe } from "../../runtime/ops/histogram.ts";
import { renderExposition, renderMetrics } from "../../runtime/ops/prometheus.ts";
import { snapshot, worker } from "../_snapshot.ts";

function family(families: ParsedFamily[], name: string): ParsedFamily {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `family ${name} is exposed`);
  return found;
}

function value(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number {
  const metric = family(families, name).metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  assert.ok(metric, `${name}${JSON.stringify(labels)} is exposed`);
  return Number(metric.value);
}

test("observe() counts a value in the first bucket whose bound is not below it", () => {
  const h = createHistogram([0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 1, 7, NaN]) observe(h, v);
  assert.deepEqual(h.counts, [2, 2, 1]);
  assert.equal(h.count, 5);
  assert.equal(h.sum, 8.65);
});

test("mergeHistograms() adds up counts, sums and totals, and refuses other bounds", () => {
  const a = createHistogram([1, 2]);
  const b = createHistogram([1, 2]);
  observe(a, 0.5);
  observe(b, 1.5);
  observe(b, 9);
  const total = mergeHistograms([1, 2], [a, b]);
  assert.deepEqual(total.counts, [1, 1, 1]);
  assert.equal(total.count, 3);
  assert.equal(total.sum, 11);
  assert.deepEqual(a.counts, [1, 0, 0], "inputs are left alone");
  assert.throws(() => mergeHistograms([1, 2], [createHistogram([1, 3])]), RangeError);
  assert.throws(() => createHistogram([2, 1]), /strictly increasing/);
});

test("a merged histogram survives JSON, as it does over IPC", () => {
  const h = createHistogram([1]);
  observe(h, 0.2);
  const copy = JSON.parse(JSON.stringify(h));
  assert.deepEqual(mergeHistograms([1], [copy, h]).counts, [2, 0]);
});

test("renderMetrics() output parses as Prometheus text with the snapshot's values", () => {
  const text = renderMetrics(snapshot());
  const families = parsePrometheusTextFormat(text);
  assert.equal(value(families, "rota_ready"), 1);
  assert.equal(value(families, "rota_workers", { state: "ready" }), 1);
  assert.equal(value(families, "rota_workers", { state: "failing" }), 1);
  assert.equal(value(families, "rota_workers", { state: "draining" }), 0);
  assert.equal(value(families, "rota_worker_requests_total", { worker: "0.2", pid: "1001" }), 1234);
  assert.equal(value(families, "rota_worker_in_flight_requests", { worker: "0.2" }), 2);
  assert.equal(value(families, "rota_init_attempts_total", { result: "failed" }), 2);
  assert.equal(value(families, "rota_recycles_total", { reason: "max-requests" }), 2);
  assert.equal(value(families, "rota_recycles_total", { reason: "reload" }), 1);
  assert.equal(value(families, "rota_crashes_total"), 1);
  assert.equal(value(families, "rota_restarts_total"), 1);
  assert.equal(value(families, "rota_watchdog_kills_total"), 0);
  assert.equal(value(families, "rota_config_version"), 4);
  assert.equal(value(families, "rota_no_worker_ready_seconds_total"), 1.5);
  assert.equal(value(families, "process_resident_memory_bytes", { worker: "0.2", pid: "1001" }), 52_428_800);
  assert.equal(value(families, "nodejs_heap_size_used_bytes", { worker: "0.2" }), 9_000_000);
  assert.equal(value(families, "nodejs_eventloop_lag_seconds", { worker: "0.2" }), 0.0012);
  assert.equal(
    family(families, "process_resident_memory_bytes").metrics.length,
    1,
    "no sample for a worker without rss",
  );
  assert.equal(family(families, "rota_worker_requests_total").type, "COUNTER");
  assert.equal(family(families, "rota_workers").type, "GAUGE");
  assert.equal(family(families, "rota_worker_requests_total").help, "Requests a worker answered.");
});

test("renderMetrics() exposes the request histogram with cumulative buckets, sum and count", () => {
  const families = parsePrometheusTextFormat(renderMetrics(snapshot()));
  const histogram = family(families, "rota_request_duration_seconds");
  assert.equal(histogram.type, "HISTOGRAM");
  const [metric] = histogram.metrics;
  assert.equal(metric.count, "5");
  assert.equal(Number(metric.sum), 0.001 + 0.002 + 0.03 + 0.3 + 20);
  assert.equal(metric.buckets?.["0.005"], "2");
  assert.equal(metric.buckets?.["0.05"], "3");
  assert.equal(metric.buckets?.["0.5"], "4");
  assert.equal(metric.buckets?.["10"], "4");
  assert.equal(metric.buckets?.["+Inf"], "5");
  assert.equal(family(families, "rota_init_duration_seconds").metrics[0].count, "3");
});

test("renderMetrics() leaves exited workers out of per-worker series", () => {
  const text = renderMetrics(snapshot({
    workers: [worker({ pid: 5, requests: 3 }), worker({ slot: 0, generation: 1, pid: 6, state: "exited", rss: 1 })],
  }));
  assert.doesNotMatch(text, /pid="6"/);
  assert.match(text, /^rota_worker_requests_total\{worker="0\.0",pid="5"\} 3$/m);
});

test("renderExposition() escapes label values and help text so a parser reads them back", () => {
  const tricky = 'a "quoted" back\\slash\nnew line';
  const text = renderExposition([
    {
      name: "x_total",
      help: "Help with \\ and\nnewline.",
      type: "counter",
      samples: [{ labels: { reason: tricky }, value: 3 }],
    },
    {
      name: "y",
      help: "Special values.",
      type: "gauge",
      samples: [{ labels: { v: "inf" }, value: Infinity }, { labels: { v: "nan" }, value: NaN }],
    },
  ]);
  assert.match(text, /^# HELP x_total Help with \\\\ and\\nnewline\.$/m);
  assert.match(text, /^x_total\{reason="a \\"quoted\\" back\\\\slash\\nnew line"\} 3$/m);
  assert.match(text, /^y\{v="inf"\} \+Inf$/m);
  assert.match(text, /^y\{v="nan"\} NaN$/m);
  const families = parsePrometheusTextFormat(text);
  assert.equal(family(families, "x_total").metrics[0].labels?.reason, tricky);
  assert.equal(text.split("\n").filter((line) => line.startsWith("x_total")).length, 1, "one line per sample");
});

test("renderExposition() rejects invalid metric and label names", () => {
  assert.throws(
    () => renderExposition([{ name: "bad-name", help: "", type: "gauge", samples: [{ value: 1 }] }]),
    RangeError,
  );
  assert.throws(
    () =>
      renderExposition([{ name: "ok", help: "", type: "gauge", samples: [{ labels: { "bad-label": 1 }, value: 1 }] }]),
    RangeError,
  );
});
