/**
 * The init-hook contract at its edges (issue 7): the seed's own hard cases.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { get, Rota, type Target } from "../_harness.ts";

/**
 * Register the tests for one target.
 *
 * @param target The runtime.
 */
export function initContractSuite(target: Target): void {
  describe("the init contract at its edges", () => {
    test("failed inits are retried back to back while requests wait: the next attempt starts as the last one fails", async () => {
      const rota = await Rota.serve(target, "slow_flaky.js", ["--workers", "1"], { ready: /0 of 1 workers ready/ });
      const [pid] = rota.workerPids();
      // A request every 50 ms (bounded), as in the seed's scenario, until the first 200.
      let first: { pid: number; attempt: number } | undefined;
      for (let i = 0; i < 300 && !first; i++) {
        const pause = new Promise((resolve) => setTimeout(resolve, 50));
        const answer = await get(rota.url);
        if (answer.status === 200) first = JSON.parse(answer.body);
        else assert.equal(answer.status, 503);
        await pause;
      }
      assert.deepEqual(first, { pid, attempt: 4 }, "the same process recovered on its fourth attempt");
      const at = (what: string) =>
        new Map([...rota.log.matchAll(new RegExp(`fixture: attempt (\\d+) ${what} (\\d+)`, "g"))].map((m) => [
          Number(m[1]),
          Number(m[2]),
        ]));
      const [started, ended] = [at("started"), at("ended")];
      for (const attempt of [2, 3, 4]) {
        const gap = started.get(attempt)! - ended.get(attempt - 1)!;
        // A gap of a second or more after each failure is the old rule (a retry only 1 s after a failure).
        assert.ok(gap < 500, `attempt ${attempt} started ${gap}ms after attempt ${attempt - 1} failed`);
      }
      assert.equal(rota.workerPids().length, 1, "no restart");
      assert.equal((await rota.stop()).code, 0);
    });
  });
}
