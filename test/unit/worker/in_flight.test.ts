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
