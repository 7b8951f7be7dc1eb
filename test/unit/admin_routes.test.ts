import assert from "node:assert/strict";
import { test } from "node:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { createAdminHandler } from "../../runtime/ops/admin_routes.ts";
import type { RotaSnapshot } from "../../runtime/ops/snapshot.ts";
import { snapshot } from "../_snapshot.ts";

function handler(current: () => RotaSnapshot, healthPrefix?: string) {
  return createAdminHandler({ snapshot: current, healthPrefix });
}

test("the admin handler serves the page, the snapshot and metrics", async () => {
  const fetch = handler(() => snapshot());
  const page = fetch(new Request("http://admin/"));
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  assert.match(await page.text(), /<!doctype html>/);
  const status = fetch(new Request("http://admin/status.json"));
  assert.equal((await status.json()).configVersion, 4);
  const metrics = fetch(new Request("http://admin/metrics"));
  assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const families = parsePrometheusTextFormat(await metrics.text());
  assert.ok(families.some((f) => f.name === "rota_worker_requests_total"));
});

test("/_rota/ready answers 200 only while a worker is ready and rota is not stopping", async () => {
  let current = snapshot();
  const fetch = handler(() => current);
  const ready = fetch(new Request("http://admin/_rota/ready"));
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, phase: "running", workersReady: 1 });
  current = snapshot({ ready: false, phase: "stopping" });
  assert.equal(fetch(new Request("http://admin/_rota/ready")).status, 503);
  assert.equal(fetch(new Request("http://admin/_rota/live")).status, 200, "alive while stopping");
});

test("the admin handler takes a health prefix, and answers 404 and 405 elsewhere", () => {
  const fetch = handler(() => snapshot(), "/health");
  assert.equal(fetch(new Request("http://admin/health/ready")).status, 200);
  assert.equal(fetch(new Request("http://admin/_rota/ready")).status, 404);
  const post = fetch(new Request("http://admin/metrics", { method: "POST" }));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
});
