import assert from "node:assert/strict";
import { test } from "node:test";
import { REQUEST_SECONDS_BOUNDS } from "../../../runtime/ops/histogram.ts";
import { ACCESS_LOG_BATCH, ACCESS_LOG_FLUSH_MS, RequestMetrics } from "../../../runtime/worker/request_metrics.ts";
import { FakeClock } from "../../_fake_clock.ts";

const T = Date.UTC(2026, 10, 25, 12, 0, 0);

test("RequestMetrics hands each heartbeat the durations observed since the last one", async () => {
  const clock = new FakeClock();
  const metrics = new RequestMetrics({ clock });
  assert.equal(metrics.take(), undefined, "nothing answered: nothing to send");
  const a = metrics.start();
  await clock.advance(3);
  metrics.answered(new Request("http://x/a"), new Response("a"), a);
  const b = metrics.start();
  await clock.advance(300);
  metrics.answered(new Request("http://x/b"), new Response("b"), b);
  const delta = metrics.take()!;
  assert.equal(delta.count, 2);
  assert.equal(delta.counts.length, REQUEST_SECONDS_BOUNDS.length + 1);
  assert.equal(delta.counts[0], 1, "3 ms is under the first bound");
  assert.equal(delta.counts[REQUEST_SECONDS_BOUNDS.indexOf(0.5)], 1, "300 ms is in the 0.5 s bucket");
  assert.ok(Math.abs(delta.sum - 0.303) < 1e-9);
  assert.equal(metrics.take(), undefined, "taken: the next heartbeat carries only what follows");
});

test("RequestMetrics writes a Common Log Format line per request with --access-log, and none without", async () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const metrics = new RequestMetrics({ clock, wallClock: () => T, accessLog: "common", write: (l) => lines.push(l) });
  const start = metrics.start();
  await clock.advance(12);
  metrics.answered(
    new Request("http://127.0.0.1:8000/items?id=3", { method: "POST" }),
    new Response("created", { status: 201, headers: { "content-length": "7" } }),
    start,
  );
  assert.deepEqual(lines, [], "written in a batch, a moment later");
  await clock.advance(ACCESS_LOG_FLUSH_MS);
  assert.deepEqual(lines, ['- - - [25/Nov/2026:11:59:59 +0000] "POST /items?id=3 HTTP/1.1" 201 -\n']);
  const combined: string[] = [];
  const other = new RequestMetrics({
    clock,
    wallClock: () => T,
    accessLog: "combined",
    write: (l) => combined.push(l),
  });
  for (const agent of ["a", "b"]) {
    other.answered(new Request("http://x/", { headers: { "user-agent": agent } }), new Response(null), other.start());
  }
  other.flush();
  const line = (agent: string) => `- - - [25/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 - "-" "${agent}"`;
  assert.deepEqual(combined, [`${line("a")}\n${line("b")}\n`], "one write per batch; flush() writes the rest at once");
  for (let i = 0; i < ACCESS_LOG_BATCH; i++) {
    other.answered(new Request("http://x/"), new Response(null), other.start());
  }
  assert.equal(combined.length, 2, "a full batch is written without waiting");
  assert.equal(clock.pending, 0);
  const silent: string[] = [];
  const off = new RequestMetrics({ clock, write: (l) => silent.push(l) });
  off.answered(new Request("http://x/"), new Response("x"), off.start());
  assert.deepEqual(silent, []);
  assert.equal(off.take()!.count, 1, "durations are kept either way");
});
