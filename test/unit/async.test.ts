import assert from "node:assert/strict";
import { test } from "node:test";
import { delay, exponentialBackoff } from "../../runtime/_async.ts";

test("delay() resolves, and rejects with the signal's reason when aborted", async () => {
  await delay(1);
  const controller = new AbortController();
  const waiting = delay(10_000, { signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, { message: "stop" });
});

test("exponentialBackoff() doubles up to maxTimeout and takes off at most `jitter` of it at random", () => {
  assert.deepEqual(
    [0, 1, 2, 10].map((n) => exponentialBackoff(n, { minTimeout: 100, maxTimeout: 1000, jitter: 0 })),
    [100, 200, 400, 1000],
  );
  assert.equal(exponentialBackoff(0, { minTimeout: 1000, jitter: 0.5 }, () => 0), 1000);
  assert.equal(exponentialBackoff(0, { minTimeout: 1000, jitter: 0.5 }, () => 0.999), 500);
});
