import assert from "node:assert/strict";
import { test } from "node:test";
import { AvailabilityClock } from "../../../runtime/supervisor/availability.ts";

test("AvailabilityClock counts the time with no worker ready once one has been", () => {
  const clock = new AvailabilityClock();
  clock.update(false, 0);
  assert.equal(clock.total(5000), 0, "before the first ready worker nothing counts");
  clock.update(true, 5000);
  clock.update(false, 6000);
  assert.equal(clock.total(6250), 250, "an open gap counts up to now");
  clock.update(true, 6400);
  assert.equal(clock.total(10000), 400);
  clock.update(false, 11000, false);
  assert.equal(clock.total(12000), 400, "a gap while not counting (starting, stopping) is no outage");
});

test("AvailabilityClock.stop() closes an open gap and counts nothing after", () => {
  const clock = new AvailabilityClock();
  clock.update(true, 0);
  clock.update(false, 100);
  clock.stop(300);
  clock.update(false, 400);
  assert.equal(clock.total(10_000), 200);
});
