import assert from "node:assert/strict";
import { test } from "node:test";
import { MEMORY_CHECK_MS, RecycleLimits } from "../../../runtime/worker/recycle_limits.ts";
import { FakeClock } from "../../_fake_clock.ts";

test("RecycleLimits asks once, after maxRequests requests", () => {
  const asked: string[] = [];
  const limits = new RecycleLimits({
    maxRequests: 3,
    maxMemory: 0,
    clock: new FakeClock(),
    memoryUsage: () => 0,
    onLimit: (reason, detail) => asked.push(`${reason}: ${detail}`),
  });
  for (let i = 0; i < 10; i++) limits.countRequest();
  assert.deepEqual(asked, ["max-requests: answered 3 requests (limit 3)"]);
});

test("RecycleLimits looks at memory every few seconds and asks once it is above maxMemory", async () => {
  const clock = new FakeClock();
  let rss = 100 * 2 ** 20;
  const asked: string[] = [];
  const limits = new RecycleLimits({
    maxRequests: 0,
    maxMemory: 150 * 2 ** 20,
    clock,
    memoryUsage: () => rss,
    onLimit: (_reason, detail) => asked.push(detail),
  });
  limits.watchMemory();
  await clock.advance(MEMORY_CHECK_MS * 3);
  assert.deepEqual(asked, []);
  rss = 200 * 2 ** 20;
  await clock.advance(MEMORY_CHECK_MS);
  assert.deepEqual(asked, ["resident memory 200MB is above 150MB"]);
  assert.equal(clock.pending, 0, "it stopped looking");
  for (let i = 0; i < 5; i++) limits.countRequest();
});
