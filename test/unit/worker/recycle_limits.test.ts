import assert from "node:assert/strict";
import { test } from "node:test";
import { RecycleLimits } from "../../../runtime/worker/recycle_limits.ts";

test("RecycleLimits asks once, after maxRequests requests", () => {
  const asked: string[] = [];
  const limits = new RecycleLimits({
    maxRequests: 3,
    onLimit: (reason, detail) => asked.push(`${reason}: ${detail}`),
  });
  for (let i = 0; i < 10; i++) limits.countRequest();
  assert.deepEqual(asked, ["max-requests: answered 3 requests (limit 3)"]);
});

test("RecycleLimits never asks when maxRequests is 0", () => {
  const asked: string[] = [];
  const limits = new RecycleLimits({ maxRequests: 0, onLimit: (reason) => asked.push(reason) });
  for (let i = 0; i < 1000; i++) limits.countRequest();
  assert.deepEqual(asked, []);
});
