import assert from "node:assert/strict";
import { test } from "node:test";
import type { RotaHealth } from "../../../runtime/protocol.ts";
import { HEALTH_INTERVAL_MS, HealthBroadcast } from "../../../runtime/supervisor/health_broadcast.ts";
import { FakeClock } from "../../_fake_clock.ts";

const health = (ready: boolean, workersReady = ready ? 1 : 0): RotaHealth => ({
  ready,
  workersReady,
  phase: "running",
  pid: 1,
});

test("HealthBroadcast sends a change at once and repeats the health every second until stopped", async () => {
  const clock = new FakeClock();
  const sent: RotaHealth[] = [];
  const broadcast = new HealthBroadcast({ clock, send: (h) => sent.push(h) });
  broadcast.start(health(false));
  assert.deepEqual(sent, [], "a new worker is given the health in its spec");
  broadcast.update(health(false));
  assert.deepEqual(sent, [], "no change, nothing sent");
  broadcast.update(health(true));
  assert.deepEqual(sent, [health(true)]);
  await clock.advance(HEALTH_INTERVAL_MS * 3);
  assert.equal(sent.length, 4, "repeated every second");
  broadcast.update(health(true, 2));
  assert.deepEqual(sent.at(-1), health(true, 2));
  broadcast.stop();
  await clock.advance(HEALTH_INTERVAL_MS * 3);
  assert.equal(sent.length, 5);
  assert.equal(clock.pending, 0, "no timer left");
});
