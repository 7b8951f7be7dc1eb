/**
 * rota as PID 1 of a new PID namespace, as in a container without an init:
 * `unshare --pid --fork --mount-proc`, with the signal sent from outside to
 * the namespace's init the way a container runtime does. PID 1 receives only
 * the signals it has handlers for, and orphans and dead children are its to
 * reap.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import { ensureDebianPackage } from "../_apt.ts";
import { alive, get, killLeftovers, Rota, TARGETS, waitFor } from "../_harness.ts";

after(killLeftovers);

function children(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The process's pid in each namespace, outermost first (`NSpid:` of /proc/<pid>/status). */
function nsPids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("NSpid:"));
  return line!.split(/\s+/).slice(1).map(Number);
}

/** Gone, not a zombie left for nobody to reap. */
function reaped(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] === undefined;
  } catch {
    return true;
  }
}

for (const key of Object.keys(TARGETS)) {
  const target = TARGETS[key]();
  describe(`rota as PID 1 on ${target.name}`, { timeout: 120_000 }, () => {
    test("serves, reaps a killed worker, takes SIGTERM from outside, and exits 0 with every worker gone", async () => {
      const unshare = ensureDebianPackage("/usr/bin/unshare", "util-linux");
      const contained = {
        ...target,
        // --kill-child: should this test die, the namespace dies with it.
        command: [unshare, "--pid", "--fork", "--mount-proc", "--kill-child", ...target.command],
      };
      const rota = await Rota.serve(contained, "hello.js", ["--workers", "2"]);
      const [init] = children(rota.child.pid!);
      assert.ok(init, "unshare forked the namespace's init");
      assert.deepEqual(nsPids(init).slice(-1), [1], "rota is PID 1 in its namespace");

      const answer = await get(`${rota.url}/`);
      assert.equal(answer.status, 200);
      assert.ok(JSON.parse(answer.body).pid > 1, "a worker answers, with a pid of the namespace");

      const workers = children(init);
      assert.equal(workers.length, 2, `two workers: ${workers}`);
      process.kill(workers[0], "SIGKILL");
      await rota.waitForLog(/exited unexpectedly \(signal SIGKILL\)/);
      await waitFor("the killed worker to be reaped", () => reaped(workers[0]), 10_000);
      await waitFor(
        "a replacement worker",
        () => children(init).filter((pid) => !workers.includes(pid)).length === 1,
        15_000,
      );
      await waitFor("the replacement's init", () => (rota.log.match(/init succeeded/g) ?? []).length === 3, 15_000);
      const running = children(init);

      process.kill(init, "SIGTERM");
      assert.deepEqual(await rota.exited, { code: 0, signal: null }, rota.log);
      assert.match(rota.log, /shutting down gracefully/);
      for (const pid of [init, ...running]) assert.equal(alive(pid), false, `pid ${pid} is gone`);
    });
  });
}
