import assert from "node:assert/strict";
import { test } from "node:test";
import { InFlight } from "../../../runtime/worker/in_flight.ts";
import { FakeClock } from "../../_fake_clock.ts";

test("InFlight reports the oldest running request by method, path (no query) and age, and counts finished ones", async () => {
  const clock = new FakeClock();
  const inFlight = new InFlight({ clock });
  assert.equal(inFlight.oldest(), undefined);
  const first = inFlight.begin(new Request("http://x/report?token=secret", { method: "POST", body: "x" }));
  await clock.advance(300);
  const second = inFlight.begin(new Request("http://x/other"));
  await clock.advance(200);
  assert.deepEqual(inFlight.oldest(), { method: "POST", path: "/report", ageMs: 500 });
  assert.equal(inFlight.size, 2);
  inFlight.end(first);
  inFlight.end(first);
  assert.deepEqual(inFlight.oldest(), { method: "GET", path: "/other", ageMs: 200 });
  inFlight.end(second);
  assert.deepEqual([inFlight.size, inFlight.finished], [0, 2]);
});

test("InFlight announces a starting request at once, at most once per announceEveryMs", async () => {
  const clock = new FakeClock();
  let announced = 0;
  const inFlight = new InFlight({ clock, announce: () => announced++, announceEveryMs: 100 });
  inFlight.begin(new Request("http://x/"));
  assert.equal(announced, 1, "an isolated request is announced before its handler runs");
  for (let i = 0; i < 1000; i++) inFlight.begin(new Request("http://x/"));
  assert.equal(announced, 1, "a burst costs one announcement");
  await clock.advance(100);
  inFlight.begin(new Request("http://x/"));
  assert.equal(announced, 2);
});

test("InFlight keeps a request that still runs when a newer one begins, and orders it first", async () => {
  const clock = new FakeClock();
  const inFlight = new InFlight({ clock });
  const slow = inFlight.begin(new Request("http://x/slow"));
  await clock.advance(50);
  const quick = inFlight.begin(new Request("http://x/quick"), clock.now() - 10);
  assert.equal(inFlight.size, 2);
  assert.deepEqual(inFlight.oldest(), { method: "GET", path: "/slow", ageMs: 50 });
  inFlight.end(quick);
  assert.equal(inFlight.size, 1);
  assert.deepEqual(inFlight.oldest(), { method: "GET", path: "/slow", ageMs: 50 });
  const third = inFlight.begin(new Request("http://x/third"));
  inFlight.end(slow);
  assert.deepEqual(inFlight.oldest(), { method: "GET", path: "/third", ageMs: 0 });
  inFlight.end(third);
  assert.deepEqual([inFlight.size, inFlight.finished, inFlight.oldest()], [0, 3, undefined]);
});

test("InFlight reports a synchronous handler's request while it runs, aged from the start it was given", async () => {
  const clock = new FakeClock();
  const seen: unknown[] = [];
  const inFlight = new InFlight({ clock, announce: () => seen.push(inFlight.oldest()) });
  await clock.advance(1000);
  const id = inFlight.begin(new Request("http://x/sync?secret=1", { method: "PUT", body: "x" }), clock.now() - 30);
  assert.deepEqual(seen, [{ method: "PUT", path: "/sync", ageMs: 30 }], "the announcement names it");
  assert.equal(inFlight.size, 1);
  inFlight.end(id);
  inFlight.end(id);
  assert.deepEqual([inFlight.size, inFlight.finished], [0, 1]);
});
