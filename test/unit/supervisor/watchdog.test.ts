import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeartbeatMessage } from "../../../runtime/protocol.ts";
import { describeActivity, Watchdog } from "../../../runtime/supervisor/watchdog.ts";
import { FakeClock } from "../../_fake_clock.ts";

const beat: HeartbeatMessage = {
  rota: 1,
  type: "heartbeat",
  phase: "serving",
  requests: 0,
  inFlight: 0,
  rss: 0,
  heapUsed: 0,
  loopLagMs: 0,
};

function watching(timeout: number) {
  const clock = new FakeClock();
  const overdue: Array<[string, number, HeartbeatMessage]> = [];
  const watchdog = new Watchdog<string>({
    timeout,
    clock,
    overdue: (worker, silentMs, last) => overdue.push([worker, silentMs, last]),
  });
  return { clock, overdue, watchdog };
}

test("Watchdog reports a worker whose heartbeats stop, once, after the timeout", async () => {
  const { clock, overdue, watchdog } = watching(2000);
  watchdog.beat("a", beat);
  for (let i = 0; i < 10; i++) {
    await clock.advance(500);
    watchdog.beat("a", { ...beat, requests: i });
  }
  assert.deepEqual(overdue, [], "a worker that keeps beating is never overdue");
  const last = { ...beat, requests: 9, oldestMethod: "GET", oldestPath: "/spin", oldestMs: 300 };
  watchdog.beat("a", last);
  await clock.advance(1999);
  assert.deepEqual(overdue, []);
  await clock.advance(1);
  assert.deepEqual(overdue, [["a", 2000, last]]);
  await clock.advance(60_000);
  assert.equal(overdue.length, 1, "reported once");
});

test("Watchdog watches a worker only from its first heartbeat", async () => {
  const { clock, overdue, watchdog } = watching(1000);
  await clock.advance(10_000);
  assert.deepEqual(overdue, [], "a worker that never beat is left to the startup timeout");
  watchdog.beat("late", beat);
  await clock.advance(1000);
  assert.equal(overdue.length, 1);
});

test("Watchdog forgets a worker that exited, and does nothing when the timeout is 0", async () => {
  const { clock, overdue, watchdog } = watching(1000);
  watchdog.beat("gone", beat);
  watchdog.forget("gone");
  await clock.advance(5000);
  assert.deepEqual(overdue, []);
  assert.equal(clock.pending, 0, "no timer left behind");

  const off = watching(0);
  off.watchdog.beat("a", beat);
  await off.clock.advance(60_000);
  assert.deepEqual(off.overdue, []);
  assert.deepEqual(off.watchdog.last("a"), beat, "heartbeats are still kept, for memory and metrics");
});

test("describeActivity() names what a silent worker was doing from its last heartbeat", () => {
  assert.equal(describeActivity({ ...beat, phase: "loading" }, 2000), "importing the app");
  assert.equal(describeActivity({ ...beat, phase: "starting", initAttempt: 2 }, 2000), "in init attempt 2");
  assert.equal(
    describeActivity({ ...beat, oldestMethod: "POST", oldestPath: "/report", oldestMs: 150 }, 2000),
    "running POST /report for 2150ms",
  );
  assert.equal(describeActivity({ ...beat, phase: "draining" }, 2000), "draining");
  assert.equal(describeActivity(beat, 2000), "idle");
});

test("Watchdog looks again before reporting when its own timer fired late: the supervisor was held up, not the worker", async () => {
  const clock = new FakeClock();
  const overdue: string[] = [];
  const late = { by: 0 };
  // A clock whose timers fire `late.by` milliseconds after they were due, as on a frozen machine.
  const slow = {
    now: () => clock.now(),
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms + late.by),
    clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
  };
  const watchdog = new Watchdog<string>({ timeout: 2000, clock: slow, overdue: (worker) => overdue.push(worker) });
  late.by = 1500;
  watchdog.beat("a", beat);
  await clock.advance(3500);
  assert.deepEqual(overdue, [], "fired 1500 ms late: look again first");
  watchdog.beat("a", beat);
  late.by = 0;
  await clock.advance(1999);
  assert.deepEqual(overdue, [], "the heartbeat read meanwhile counts");
  await clock.advance(1);
  assert.deepEqual(overdue, ["a"], "on time and still silent: overdue");
});
