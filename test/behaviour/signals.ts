/**
 * Signals and deploys at the worst moments: a stop during startup or during a
 * rolling reload, a reload during a reload, and a message to a worker at every
 * stage of its life (issue 11, items 1–3; issue 7, item 7).
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { alive, BIN, freePort, get, load, type LoadSample, ROOT, Rota, type Target, waitFor } from "../_harness.ts";

let attaches: boolean | undefined;

/** Whether this system lets the user running the tests put rota's SYN filter on a listening socket (asked once). */
function synFilterAttaches(): boolean {
  attaches ??= execFileSync(join(BIN, "bun"), [join(ROOT, "test", "behaviour", "_filter_probe.ts")], {
    encoding: "utf8",
  }).trim() === "attached";
  return attaches;
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "rota-"));
}

/** The pids whose dispose ran, from the fixture's dispose log. */
function disposed(file: string): number[] {
  try {
    return readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map(Number).sort();
  } catch {
    return [];
  }
}

/** Start `rota serve staged.js` on a free port without waiting for anything. */
async function startStaged(target: Target, args: string[], env: Record<string, string>): Promise<Rota> {
  const port = await freePort();
  return Rota.run(target, ["serve", "staged.js", "--port", String(port), "--hostname", "127.0.0.1", ...args], {
    env,
    port,
  });
}

/**
 * Register the tests for one target.
 *
 * @param target The runtime.
 */
export function signalsSuite(target: Target): void {
  describe("signals and deploys at the worst moment", () => {
    test("a SIGTERM while setup runs stops rota before any worker starts, with exit code 0", async () => {
      const rota = await startStaged(target, ["--workers", "2"], { ROTA_TEST_SETUP_MS: "3000" });
      await rota.waitForLog(/fixture: setup started/);
      rota.signal("SIGTERM");
      assert.deepEqual(await rota.ended(), { code: 0, signal: null });
      assert.doesNotMatch(rota.log, /started worker/, "no worker was started after the SIGTERM");
      assert.doesNotMatch(rota.log, /^\s+at /m, "no stack trace");
    });

    test("a second SIGINT while setup runs forces: exit code 1 without waiting for setup", async () => {
      const rota = await startStaged(target, ["--workers", "1"], { ROTA_TEST_SETUP_MS: "30000" });
      await rota.waitForLog(/fixture: setup started/);
      rota.signal("SIGINT");
      await rota.waitForLog(/stopping|stopped/i);
      rota.signal("SIGINT");
      assert.deepEqual(await rota.ended(), { code: 1, signal: null });
      assert.doesNotMatch(rota.log, /fixture: setup finished/);
    });

    test("a SIGTERM while the first workers initialise drains them, runs dispose, and exits 0", async () => {
      const dir = scratch();
      const log = join(dir, "dispose.log");
      const rota = await startStaged(target, ["--workers", "2"], {
        ROTA_TEST_INIT_MS: "2000",
        ROTA_TEST_DISPOSE_LOG: log,
      });
      await waitFor("both workers in init", () => (rota.log.match(/fixture: init started/g) ?? []).length >= 2);
      rota.signal("SIGTERM");
      assert.deepEqual(await rota.ended(), { code: 0, signal: null });
      assert.deepEqual(disposed(log), rota.workerPids().sort(), "dispose ran in every worker");
      assert.doesNotMatch(rota.log, /did not exit after draining; killing it/);
    });

    // The drain that a stop sends reaches a worker at every stage of its life.
    const stages: Array<[string, Record<string, string>, RegExp]> = [
      ["just spawned", {}, /started worker 0\.1/],
      ["importing the app", { ROTA_TEST_IMPORT_MS: "1500" }, /started worker 0\.1/],
      [
        "running its first init",
        { ROTA_TEST_INIT_MS: "1500" },
        /fixture: init started pid=\d+ attempt=1[^]*fixture: init started/,
      ],
    ];
    for (const [stage, env, moment] of stages) {
      test(`a stop during a rolling reload drains the replacement ${stage} and runs every dispose`, async () => {
        const dir = scratch();
        const log = join(dir, "dispose.log");
        const rota = await startStaged(target, ["--workers", "1", "--graceful-timeout", "2s"], {
          ...env,
          ROTA_TEST_DISPOSE_LOG: log,
        });
        await rota.waitForLog(/workers? ready/, 30000);
        rota.signal("SIGHUP");
        await rota.waitForLog(moment);
        rota.signal("SIGINT");
        assert.deepEqual(await rota.ended(), { code: 0, signal: null });
        assert.doesNotMatch(rota.log, /did not exit after draining; killing it/);
        const pids = rota.workerPids();
        assert.equal(pids.length, 2, "the old worker and its replacement");
        await waitFor("every worker to be gone", () => pids.every((pid) => !alive(pid)), 5000);
        const initialised = (pid: number) => new RegExp(`fixture: init started pid=${pid}`).test(rota.log);
        // A worker stopped before its app started (before init) has nothing to dispose.
        assert.deepEqual(disposed(log), pids.filter(initialised).sort(), "dispose ran in every worker whose init ran");
      });
    }

    test("a SIGHUP during a replacement is not dropped: every slot ends up running code loaded after it", async () => {
      const dir = scratch();
      const versionFile = join(dir, "version");
      writeFileSync(versionFile, "v1");
      const rota = await startStaged(target, ["--workers", "2"], {
        ROTA_TEST_VERSION_FILE: versionFile,
        ROTA_TEST_INIT_MS: "1000",
      });
      await rota.waitForLog(/2 of 2 workers ready/, 30000);
      writeFileSync(versionFile, "v2");
      rota.signal("SIGHUP");
      // Slot 0's replacement has loaded v2 and is still in its init when v3 is deployed.
      const [, replacement] = await rota.waitForLog(/started worker 0\.1 \(pid=(\d+)/);
      await rota.waitForLog(new RegExp(`fixture: imported pid=${replacement} version=v2`));
      writeFileSync(versionFile, "v3");
      rota.signal("SIGHUP");
      // Which code each live worker loaded, read off the log: the shared port's spread of new
      // connections over workers is too uneven to find every worker by asking it.
      const liveVersions = () => {
        const exited = new Set([...rota.log.matchAll(/\(pid (\d+)\) exited/g)].map((m) => m[1]));
        const loaded = new Map(
          [...rota.log.matchAll(/fixture: imported pid=(\d+) version=(\w+)/g)].map((m) => [m[1], m[2]]),
        );
        const live = rota.workerPids().map(String).filter((pid) => !exited.has(pid));
        return live.map((pid) => loaded.get(pid) ?? "loading");
      };
      await waitFor(
        "every slot to run v3 and nothing else to be left",
        () => {
          const versions = liveVersions();
          return versions.length === 2 && versions.every((v) => v === "v3");
        },
        40000,
        100,
      );
      assert.equal(JSON.parse((await get(rota.url)).body).version, "v3");
      assert.equal((await rota.stop()).code, 0);
    });

    test("the time with no worker ready is counted: killing the only worker makes it non-zero", async () => {
      const rota = await Rota.serve(target, "hello.js", ["--workers", "1"]);
      const [victim] = rota.workerPids();
      process.kill(victim, "SIGKILL");
      await rota.waitForLog(/worker 0\.1[^\]]*\] init succeeded/);
      // Its init is done; its listen may still be under way (nobody listens on the shared socket meanwhile).
      await waitFor("the respawned worker to answer", () => get(rota.url).then((a) => a.status === 200, () => false));
      assert.equal((await rota.stop()).code, 0);
      const [, ms] = rota.log.match(/shutting down gracefully \([^)]*noWorkerReadyMs=(\d+)/) ?? [];
      assert.ok(Number(ms) > 0, `noWorkerReadyMs=${ms}: the respawn left a gap with no worker ready`);
    });

    test("dispose still runs when the graceful timeout cuts a request off", async () => {
      const dir = scratch();
      const log = join(dir, "dispose.log");
      const rota = await Rota.serve(target, "hello.js", ["--workers", "1", "--graceful-timeout", "1s"], {
        env: { ROTA_TEST_DISPOSE_LOG: log },
      });
      const [pid] = rota.workerPids();
      const cut = get(`${rota.url}/slow?ms=30000`, 20000).then(() => "answered", () => "cut");
      await rota.waitForLog(/fixture: slow request started/);
      rota.signal("SIGTERM");
      assert.deepEqual(await rota.ended(), { code: 0, signal: null });
      assert.equal(await cut, "cut", "the 30 s request was cut at the graceful timeout");
      assert.match(rota.log, /graceful timeout of 1000ms passed; closing remaining connections/);
      assert.deepEqual(disposed(log), [pid], "dispose ran after the cut");
    });

    for (const to of ["rota alone", "the whole process group"] as const) {
      test(`a graceful stop (SIGTERM to ${to}) under new-connection load cuts no request, and resets no handshake where FFI can refuse them`, async () => {
        const group = to !== "rota alone";
        const rota = await Rota.serve(target, "hello.js", ["--workers", "2"], { ownGroup: group });
        const samples: LoadSample[] = [];
        let ended = false;
        void rota.exited.then(() => (ended = true));
        const connections = 8;
        const loading = load(`${rota.url}/x`, {
          connections,
          durationMs: 30000,
          maxRequests: 500000,
          keepAlive: false,
          done: () => ended,
          samples,
        });
        await waitFor("the load to be answered", () => samples.length >= 50, 15000, 10);
        const signalled = Date.now();
        if (group) process.kill(-rota.child.pid!, "SIGTERM");
        else rota.signal("SIGTERM");
        const result = await loading;
        assert.deepEqual(await rota.ended(), { code: 0, signal: null });
        assert.deepEqual(result.bad, {}, "every answer was a 200");
        assert.ok(samples.some((sample) => sample.at > signalled), "the load went on after the signal");
        // Refused: the listener had closed. Reset: a handshake the kernel completed in the instant between the
        // last accept and the close, which no worker ever saw (see the README): at most one per client connection.
        const { ECONNREFUSED: refused = 0, ECONNRESET: reset = 0, ...other } = result.lost;
        assert.deepEqual(other, {}, "no request timed out or was cut in another way");
        // On Bun and Deno (FFI) the last socket stops new handshakes and answers its queue first: none, where the
        // system lets this user attach the filter (this machine's kernel asks for CAP_NET_ADMIN), and a warning where
        // it does not. Node has no FFI to attach that filter with.
        const node = target.name.startsWith("node");
        const filtered = !node && synFilterAttaches();
        if (!node) {
          const warned = /cannot refuse new handshakes/.test(rota.log);
          assert.equal(warned, !filtered, filtered ? "no warning: the filter attaches" : "a warning: it does not");
        }
        const most = filtered ? 0 : connections;
        assert.ok(reset <= most, `${reset} handshakes reset at the close (${refused} refused after it)`);
      });
    }

    test("Ctrl-C in a terminal (SIGINT to the whole process group) stops rota without starting replacements", async () => {
      const dir = scratch();
      const log = join(dir, "dispose.log");
      const rota = await Rota.serve(target, "hello.js", ["--workers", "2"], {
        env: { ROTA_TEST_DISPOSE_LOG: log },
        ownGroup: true,
      });
      const workers = rota.workerPids();
      process.kill(-rota.child.pid!, "SIGINT");
      assert.deepEqual(await rota.ended(), { code: 0, signal: null });
      assert.deepEqual(rota.workerPids(), workers, "no worker was started during the stop");
      assert.deepEqual(disposed(log), [...workers].sort(), "every worker drained and ran dispose");
    });
  });
}
