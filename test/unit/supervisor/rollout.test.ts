import assert from "node:assert/strict";
import { test } from "node:test";
import { Rollout } from "../../../runtime/supervisor/rollout.ts";
import { FakeClock } from "../../_fake_clock.ts";

function rollout(maxSurge: number, canStart: (slot: number) => boolean = () => true) {
  const clock = new FakeClock();
  const started: number[] = [];
  const r = new Rollout({
    maxSurge,
    clock,
    backoff: { minDelay: 100, jitter: 0 },
    start: (slot) => canStart(slot) && started.push(slot) > 0,
  });
  return { rollout: r, started, clock };
}

test("Rollout starts at most maxSurge replacements and the next one when a slot is promoted", () => {
  const { rollout: r, started } = rollout(2);
  for (const slot of [0, 1, 2, 3]) r.request(slot);
  assert.deepEqual(started, [0, 1]);
  r.request(0);
  r.request(2);
  assert.deepEqual(started, [0, 1], "a slot under way or queued is not queued twice");
  r.promoted(1);
  assert.deepEqual(started, [0, 1, 2]);
  r.adopted(0);
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(r.underWay, 2);
});

test("Rollout retries a failed replacement after a growing back-off", async () => {
  const { rollout: r, started, clock } = rollout(1);
  r.request(0);
  assert.deepEqual(r.failed(0), { failures: 1, wait: 100 });
  r.request(0);
  assert.deepEqual(started, [0], "backing off: not queued again");
  await clock.advance(100);
  assert.deepEqual(started, [0, 0]);
  assert.deepEqual(r.failed(0), { failures: 2, wait: 200 });
  await clock.advance(200);
  r.promoted(0);
  r.request(0);
  assert.equal(r.failed(0).failures, 1, "promotion resets the count");
});

test("Rollout drops a request it cannot start, cancels a slot's back-off, and starts nothing once stopped", async () => {
  let open = false;
  const { rollout: r, started, clock } = rollout(1, () => open);
  r.request(0);
  assert.deepEqual(started, []);
  open = true;
  r.request(1);
  r.failed(1);
  r.cancel(1);
  await clock.advance(10_000);
  assert.deepEqual(started, [1], "the cancelled back-off never fired");
  r.stop();
  r.request(2);
  assert.deepEqual(started, [1]);
});

test("Rollout replaces a slot once more when a reload is asked while its replacement is under way", () => {
  const { rollout: r, started } = rollout(1);
  r.request(0, "reload");
  r.request(1, "reload");
  r.request(0, "recycle");
  r.request(0, "reload");
  r.request(0, "reload");
  assert.deepEqual(started, [0]);
  r.promoted(0);
  assert.deepEqual(started, [0, 1], "slot 1 was queued first");
  r.promoted(1);
  assert.deepEqual(started, [0, 1, 0], "slot 0 again, once, with code loaded after the second reload");
  r.promoted(0);
  assert.deepEqual(started, [0, 1, 0]);
});
