import assert from "node:assert/strict";
import { test } from "node:test";
import { deadline, delay, exponentialBackoff, Lazy, retry, TimeoutError } from "../../runtime/_async.ts";

test("delay() resolves, and rejects with the signal's reason when aborted", async () => {
  await delay(1);
  const controller = new AbortController();
  const waiting = delay(10_000, { signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, { message: "stop" });
});

test("deadline() passes the value through, and rejects with TimeoutError when time runs out", async () => {
  assert.equal(await deadline(Promise.resolve(7), 1000), 7);
  await assert.rejects(deadline(new Promise(() => {}), 5), TimeoutError);
});

test("retry() calls again until the operation succeeds, and gives up after maxAttempts", async () => {
  let calls = 0;
  const value = await retry(() => {
    if (++calls < 3) throw new Error("not yet");
    return "done";
  }, { minTimeout: 1, jitter: 0 });
  assert.deepEqual([value, calls], ["done", 3]);
  await assert.rejects(retry(() => Promise.reject(new Error("never")), { maxAttempts: 2, minTimeout: 1 }), {
    message: "never",
  });
  assert.deepEqual([0, 1, 2, 10].map((n) => exponentialBackoff(n, { minTimeout: 100, maxTimeout: 1000, jitter: 0 })), [
    100,
    200,
    400,
    1000,
  ]);
});

test("Lazy shares one attempt between callers, forgets a failure, and an aborted caller does not cancel it", async () => {
  let runs = 0;
  let fail = true;
  const lazy = new Lazy(async () => {
    runs++;
    await delay(5);
    if (fail) throw new Error("first fails");
    return runs;
  });
  const controller = new AbortController();
  const aborted = lazy.get({ signal: controller.signal });
  const shared = lazy.get();
  controller.abort(new Error("caller left"));
  await assert.rejects(aborted, { message: "caller left" });
  await assert.rejects(shared, { message: "first fails" });
  assert.equal(runs, 1);
  fail = false;
  assert.deepEqual(await Promise.all([lazy.get(), lazy.get()]), [2, 2]);
  assert.equal(lazy.initialized, true);
});
