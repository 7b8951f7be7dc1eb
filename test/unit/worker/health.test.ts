import assert from "node:assert/strict";
import { test } from "node:test";
import type { RotaHealth } from "../../../runtime/protocol.ts";
import { HealthPaths, LIVE_SILENCE_MS } from "../../../runtime/worker/health.ts";
import { FakeClock } from "../../_fake_clock.ts";

const running: RotaHealth = { ready: true, workersReady: 2, phase: "running", pid: 10 };

function paths(prefix = "/_rota", initial: RotaHealth = running) {
  const clock = new FakeClock();
  return { clock, health: new HealthPaths({ prefix, initial, clock }) };
}

const ask = (health: HealthPaths, url: string, method = "GET") =>
  health.answer(new Request(`http://127.0.0.1:8000${url}`, { method }));

test("HealthPaths answers <prefix>/ready with the rota's readiness, 503 while it is not ready", async () => {
  const { health } = paths();
  const ready = ask(health, "/_rota/ready")!;
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, phase: "running", workersReady: 2 });
  assert.equal(ready.headers.get("cache-control"), "no-store");
  health.update({ ready: false, workersReady: 2, phase: "stopping", pid: 10 });
  const stopping = ask(health, "/_rota/ready?from=kubelet")!;
  assert.equal(stopping.status, 503);
  assert.deepEqual(await stopping.json(), { ready: false, phase: "stopping", workersReady: 2 });
});

test("HealthPaths answers <prefix>/live 200 while the supervisor speaks and 503 once it has been silent too long", async () => {
  const { health, clock } = paths();
  assert.equal(ask(health, "/_rota/live")!.status, 200);
  await clock.advance(LIVE_SILENCE_MS);
  assert.equal(ask(health, "/_rota/live")!.status, 200, "silent for exactly the limit is still alive");
  await clock.advance(1);
  const silent = ask(health, "/_rota/live")!;
  assert.equal(silent.status, 503);
  assert.deepEqual(await silent.json(), { live: false, pid: 10, phase: "running", silentMs: LIVE_SILENCE_MS + 1 });
  health.heard();
  assert.equal(ask(health, "/_rota/live")!.status, 200, "any message from the supervisor proves it is back");
});

test("HealthPaths leaves every other request to the app: other paths, methods, and everything when off", () => {
  const { health } = paths();
  for (const url of ["/", "/_rota", "/_rota/", "/_rota/readyz", "/_rota/ready/x", "/x/_rota/ready", "/_rotax/ready"]) {
    assert.equal(ask(health, url), undefined, url);
  }
  assert.equal(ask(health, "/_rota/ready", "POST"), undefined);
  assert.equal(ask(health, "/_rota/ready", "HEAD")!.status, 200);
  assert.equal(ask(health, "/_rota/live#x")!.status, 200);
  assert.equal(ask(paths("").health, "/_rota/ready"), undefined, "an empty prefix turns the paths off");
  assert.equal(ask(paths("/healthz").health, "/healthz/ready")!.status, 200);
  assert.equal(ask(paths("/healthz").health, "/_rota/ready"), undefined);
});

test("HealthPaths.stopping() resolves true once the supervisor says the rota stops, false when the wait ends first", async () => {
  const { health, clock } = paths();
  const told = health.stopping(250);
  const alone = health.stopping(250);
  await clock.advance(100);
  health.update({ ...running, phase: "stopping", ready: false });
  assert.equal(await told, true);
  assert.equal(await alone, true);
  assert.equal(await health.stopping(250), true, "at once once said");

  const other = paths();
  const waited = other.health.stopping(250);
  await other.clock.advance(249);
  other.health.update({ ...running, workersReady: 1 });
  await other.clock.advance(1);
  assert.equal(await waited, false);
  other.health.update({ ...running, phase: "stopping" });
  assert.equal(await other.health.stopping(0), true);
});

test("HealthPaths.supervisorGone() ends a wait on stopping() with true, and readiness turns 503", async () => {
  const { health } = paths();
  const waiting = health.stopping(250);
  health.supervisorGone();
  assert.equal(await waiting, true);
  assert.equal(ask(health, "/_rota/ready")!.status, 503);
});
