import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeartbeatMessage } from "../../../runtime/protocol.ts";
import { Heartbeat, type HeartbeatReading } from "../../../runtime/worker/heartbeat.ts";
import { FakeClock } from "../../_fake_clock.ts";

function beating(interval: number) {
  const clock = new FakeClock();
  const sent: HeartbeatMessage[] = [];
  let reading: HeartbeatReading = { phase: "loading", requests: 0, inFlight: 0, rss: 1, heapUsed: 2 };
  const heartbeat = new Heartbeat({
    clock,
    interval,
    read: () => reading,
    send: (message) => {
      sent.push(message);
      return Promise.resolve();
    },
  });
  return { clock, sent, heartbeat, set: (next: HeartbeatReading) => (reading = next) };
}

test("Heartbeat sends a beat at once, then one every interval, with what the worker reads", async () => {
  const { clock, sent, heartbeat, set } = beating(1000);
  await heartbeat.start();
  assert.deepEqual(sent, [{
    rota: 1,
    type: "heartbeat",
    phase: "loading",
    requests: 0,
    inFlight: 0,
    rss: 1,
    heapUsed: 2,
    loopLagMs: 0,
  }]);
  set({
    phase: "serving",
    requests: 5,
    inFlight: 1,
    rss: 3,
    heapUsed: 4,
    oldestMethod: "GET",
    oldestPath: "/",
    oldestMs: 9,
  });
  await clock.advance(1000);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].phase, "serving");
  assert.equal(sent[1].oldestPath, "/");
  await clock.advance(3000);
  assert.equal(sent.length, 5);
  heartbeat.stop();
  await clock.advance(10_000);
  assert.equal(sent.length, 5, "no beat after stop");
  assert.equal(clock.pending, 0);
});

test("Heartbeat.pulse() sends out of turn without moving the schedule, and only while running", async () => {
  const { clock, sent, heartbeat, set } = beating(1000);
  heartbeat.pulse();
  assert.equal(sent.length, 0, "not started yet");
  await heartbeat.start();
  await clock.advance(400);
  set({ phase: "starting", initAttempt: 1, requests: 0, inFlight: 0, rss: 1, heapUsed: 2 });
  heartbeat.pulse();
  assert.equal(sent.length, 2);
  assert.equal(sent[1].initAttempt, 1);
  await clock.advance(600);
  assert.equal(sent.length, 3, "the regular beat came on time");
  heartbeat.stop();
});
