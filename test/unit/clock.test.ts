import assert from "node:assert/strict";
import { test } from "node:test";
import { longTimers } from "../../runtime/clock.ts";
import { FakeClock } from "../_fake_clock.ts";

test("longTimers() honours a delay longer than the native timers allow, as a chain of shorter ones", async () => {
  const native = new FakeClock();
  const timers = longTimers(native, 1000);
  let fired = 0;
  timers.setTimeout(() => fired++, 2500);
  await native.advance(2499);
  assert.equal(fired, 0, "a native timer would have fired at once, or at 1000");
  await native.advance(1);
  assert.equal(fired, 1);
  const cancelled = timers.setTimeout(() => fired++, 5000);
  await native.advance(1500);
  timers.clearTimeout(cancelled);
  await native.advance(10_000);
  assert.equal(fired, 1, "cleared mid-chain");
  timers.setTimeout(() => fired++, 10);
  await native.advance(10);
  assert.equal(fired, 2, "short delays are native");
});
