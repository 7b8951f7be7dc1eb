import assert from "node:assert/strict";
import { test } from "node:test";
import { decideRestart, retryDelay } from "../../../runtime/supervisor/restart_policy.ts";

test("decideRestart() backs off, resets after a stable run, and gives up only past maxRestarts", () => {
  const policy = { minDelay: 100, maxDelay: 1000, stableAfter: 30000, jitter: 0 };
  const table = [
    // [crashes before, ready at, now, maxRestarts] → decision
    [0, undefined, 0, 0, { kind: "respawn", after: 100, history: { consecutive: 1 } }],
    [1, undefined, 0, 0, { kind: "respawn", after: 200, history: { consecutive: 2 } }],
    [3, undefined, 0, 0, { kind: "respawn", after: 800, history: { consecutive: 4 } }],
    [9, undefined, 0, 0, { kind: "respawn", after: 1000, history: { consecutive: 10 } }],
    [9, 0, 29999, 0, { kind: "respawn", after: 1000, history: { consecutive: 10 } }],
    [9, 0, 30000, 0, { kind: "respawn", after: 100, history: { consecutive: 1 } }],
    [1, undefined, 0, 2, { kind: "respawn", after: 200, history: { consecutive: 2 } }],
    [2, undefined, 0, 2, {
      kind: "give-up",
      history: { consecutive: 3 },
      reason: "crashed 3 times in a row (--max-restarts 2)",
    }],
    [2, 0, 30000, 2, { kind: "respawn", after: 100, history: { consecutive: 1 } }],
    [500, undefined, 0, 0, { kind: "respawn", after: 1000, history: { consecutive: 501 } }],
  ] as const;
  for (const [consecutive, readyAt, now, maxRestarts, decision] of table) {
    assert.deepEqual(
      decideRestart({ consecutive }, { readyAt }, now, { ...policy, maxRestarts }),
      decision,
      `${consecutive} crashes, ready at ${readyAt}, now ${now}, max ${maxRestarts}`,
    );
  }
});

test("retryDelay() takes a random share of at most `jitter` off the wait", () => {
  assert.equal(retryDelay(1, { minDelay: 1000, jitter: 0.2, random: () => 0 }), 1000);
  assert.equal(retryDelay(1, { minDelay: 1000, jitter: 0.2, random: () => 0.5 }), 900);
  assert.equal(retryDelay(1, { minDelay: 1000, jitter: 0.2, random: () => 0.999 }), 800);
});
