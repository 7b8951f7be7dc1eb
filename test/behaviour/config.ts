/**
 * The configuration broadcast, with real processes: a publish reaches every
 * worker, compare-and-set, the file written back and watched, and its edges
 * (issue 7, item 5): concurrent writers against the file watcher, a worker
 * still in `init`, versions across a restart, a supervisor that disappears.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { alive, get, Rota, type Target, waitFor } from "../_harness.ts";

interface View {
  pid: number;
  generation: number;
  version: number;
  value: Record<string, unknown>;
  reloads: number;
  reloadedWith?: number;
  initVersion: number;
}

function post(rota: Rota, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return fetch(`${rota.url}/config`, { method: "POST", body: JSON.stringify(body) }).then(async (r) => ({
    status: r.status,
    body: await r.json(),
  }));
}

async function views(rota: Rota, requests: number): Promise<View[]> {
  const seen: View[] = [];
  for (let i = 0; i < requests; i++) seen.push(JSON.parse((await get(rota.url)).body));
  return seen;
}

function configFile(value: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), "rota-")), "config.json");
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** Assert the process printed `pattern` as one clear line and no stack trace. */
function assertOneClearLine(rota: Rota, pattern: RegExp): void {
  const lines = rota.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${rota.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(rota.log, /^\s+at /m, "no stack trace");
}

/**
 * Register the tests for one target.
 *
 * @param target The runtime.
 */
export function configSuite(target: Target): void {
  describe("configuration broadcast", () => {
    test("a publish from one worker reaches every worker before it resolves", async () => {
      const file = configFile({ greeting: "hello" });
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "2", "--app-config", file]);
      const before = await views(rota, 4);
      const v0 = before[0].version;
      assert.ok(before.every((v) => v.version === v0 && v.value.greeting === "hello"));
      const published = await post(rota, { value: { greeting: "bonjour" } });
      assert.equal(published.status, 200);
      assert.deepEqual([published.body.version, published.body.failed], [v0 + 1, []]);
      const after = await views(rota, 60);
      assert.ok(
        after.every((v) => v.version === v0 + 1 && v.value.greeting === "bonjour"),
        "no worker answers with the old version",
      );
      assert.equal(new Set(after.map((v) => v.pid)).size, 2, "both workers were asked");
      assert.ok(after.every((v) => v.reloads === 1), "reload ran once in every worker");
      assert.equal((await rota.stop()).code, 0);
      assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), { greeting: "bonjour" }, "written back to the file");
      assert.deepEqual(readdirSync(dirname(file)), ["config.json"], "the atomic write left no temporary file");

      const restarted = await Rota.serve(target, "config_app.js", ["--workers", "1", "--app-config", file]);
      assert.deepEqual(
        JSON.parse((await get(restarted.url)).body).value,
        { greeting: "bonjour" },
        "kept across a restart",
      );
      assert.equal((await restarted.stop()).code, 0);
    });

    test("concurrent publishes with the same ifVersion: exactly one wins", async () => {
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "2"]);
      const [{ version: v0 }] = await views(rota, 1);
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => post(rota, { value: { n: i }, ifVersion: v0 })),
      );
      const won = results.filter((r) => r.status === 200);
      const lost = results.filter((r) => r.status === 409);
      assert.equal(won.length, 1);
      assert.equal(lost.length, 5);
      assert.ok(lost.every((r) => r.body.code === "ERR_ROTA_CONFIG_CONFLICT"));
      assert.equal(won[0].body.version, v0 + 1);
      const after = await views(rota, 10);
      assert.ok(after.every((v) => v.version === v0 + 1));
      assert.equal((await rota.stop()).code, 0);
    });

    test("a worker started later begins with the current version", async () => {
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "1"]);
      const { body } = await post(rota, { value: { colour: "teal" } });
      const [first] = rota.workerPids();
      process.kill(first, "SIGKILL");
      const view = await waitFor("the respawned worker", async () => {
        const answer = await get(rota.url).catch(() => undefined);
        const seen = answer?.status === 200 ? JSON.parse(answer.body) : undefined;
        return seen && seen.pid !== first ? seen : undefined;
      });
      assert.deepEqual(
        [view.version, view.value, view.initVersion, view.reloads],
        [body.version, { colour: "teal" }, body.version, 0],
      );
      assert.equal((await rota.stop()).code, 0);
    });

    test("a reload hook that throws is reported and the worker keeps serving", async () => {
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "2"]);
      const published = await post(rota, { value: { explode: true } });
      assert.equal(published.status, 200);
      const failed = published.body.failed as Array<{ reason: string; message: string }>;
      assert.equal(failed.length, 2);
      assert.ok(failed.every((f) => f.reason === "reload-failed" && f.message === "cannot apply this configuration"));
      await rota.waitForLog(
        new RegExp(`reload hook failed for version ${published.body.version}: cannot apply this configuration`),
      );
      const after = await views(rota, 6);
      assert.ok(after.every((v) => v.version === published.body.version), "applied even though the hook failed");
      assert.equal(rota.workerPids().length, 2, "nobody was restarted");
      assert.equal((await rota.stop()).code, 0);
    });

    test("editing the file on disk broadcasts it, and a malformed edit is logged and ignored", async () => {
      const file = configFile({ step: 0 });
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "2", "--app-config", file]);
      const [{ version: v0 }] = await views(rota, 1);
      writeFileSync(file, JSON.stringify({ step: 1 }));
      await rota.waitForLog(new RegExp(`configuration file changed: version ${v0 + 1}`));
      assert.ok((await views(rota, 6)).every((v) => v.value.step === 1));
      writeFileSync(file, "{ not json");
      await rota.waitForLog(new RegExp(`Cannot read configuration file[^\\n]*keeping version ${v0 + 1}`));
      assert.equal((await rota.stop()).code, 0);
    });

    test("SIGHUP re-reads the file on its own, with no help from the watcher", async () => {
      const file = configFile({ step: "aa" });
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "1", "--app-config", file]);
      const [{ version: v0 }] = await views(rota, 1);
      // Same size, same modification time: the watcher, which compares both, sees nothing.
      const { atime, mtime } = statSync(file);
      writeFileSync(file, JSON.stringify({ step: "bb" }));
      utimesSync(file, atime, mtime);
      rota.signal("SIGHUP");
      await rota.waitForLog(new RegExp(`configuration file changed: version ${v0 + 1}`));
      assert.ok((await views(rota, 4)).every((v) => v.value.step === "bb"));
      assert.equal((await rota.stop()).code, 0);
    });

    test("concurrent writers and the file watcher: every version is one that a publish asked for", async () => {
      const file = configFile({ writer: -1, n: -1 });
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "2", "--app-config", file]);
      const [{ version: v0 }] = await views(rota, 1);
      const versions: number[] = [];
      await Promise.all([0, 1, 2, 3].map(async (writer) => {
        for (let n = 0; n < 40; n++) {
          const { status, body } = await post(rota, { value: { writer, n } });
          assert.equal(status, 200, JSON.stringify(body));
          versions.push(body.version as number);
        }
      }));
      const expected = Array.from({ length: 160 }, (_, i) => v0 + 1 + i);
      assert.deepEqual(versions.sort((a, b) => a - b), expected, "160 publishes made versions v0+1 … v0+160");
      // The watcher sees each write-back; whatever it read, nothing it read may have been published.
      const last = JSON.parse(readFileSync(file, "utf8"));
      const settled = await waitFor(
        "the views to agree with the file",
        async () => {
          const seen = await views(rota, 8);
          return seen.every((v) => v.version === v0 + 160 && v.value.writer === last.writer && v.value.n === last.n)
            ? seen
            : undefined;
        },
        10000,
        200,
      );
      assert.ok(settled);
      assert.doesNotMatch(rota.log, /configuration file changed/, "no version came from a file read");
      assert.equal((await rota.stop()).code, 0);
    });

    test("a worker still in init acknowledges a version only after its reload ran with it", async () => {
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "1"], {
        env: { ROTA_TEST_SLOW_INIT_GENERATION: "1" },
      });
      rota.signal("SIGHUP");
      // The replacement (generation 1) is in its 3 s init, which read the version of that moment.
      const [, replacement] = await rota.waitForLog(/started worker 0\.1 \(pid=(\d+)/);
      await rota.waitForLog(new RegExp(`fixture: init started pid=${replacement}`));
      const published = await post(rota, { value: { colour: "amber" } });
      assert.deepEqual(published.body.failed, []);
      await rota.waitForLog(/is ready and replaces worker 0\.0/, 20000);
      const view = await waitFor("the replacement to answer", async () => {
        const seen = JSON.parse((await get(rota.url)).body);
        return seen.generation === 1 ? seen : undefined;
      });
      assert.equal(view.version, published.body.version);
      assert.equal(view.reloadedWith, published.body.version, "its reload ran with the version it acknowledged");
      assert.equal((await rota.stop()).code, 0);
    });

    test("an ifVersion from before a restart never matches a version of the next run", async () => {
      const file = configFile({ run: 0 });
      const first = await Rota.serve(target, "config_app.js", ["--workers", "1", "--app-config", file]);
      const { body: old } = await post(first, { value: { run: 1 } });
      assert.equal((await first.stop()).code, 0);
      const second = await Rota.serve(target, "config_app.js", ["--workers", "1", "--app-config", file]);
      await post(second, { value: { run: 2 } });
      const stale = await post(second, { value: { run: 3 }, ifVersion: old.version });
      assert.equal(stale.status, 409, "a compare-and-set taken before the restart is refused");
      assert.equal(stale.body.code, "ERR_ROTA_CONFIG_CONFLICT");
      assert.equal((await second.stop()).code, 0);
    });

    test("a publish waiting for the supervisor gets its error when the supervisor disappears", async () => {
      const rota = await Rota.serve(target, "config_app.js", ["--workers", "2"], {
        env: { ROTA_TEST_SLOW_RELOAD_SLOT: "1" },
      });
      // Slot 1's reload takes 3 s: the publish waits for it, and the supervisor is killed meanwhile.
      const publishing = post(rota, { value: { colour: "plum" } }).catch((error) => error);
      await rota.waitForLog(/fixture: reload started slot=1/);
      const workers = rota.workerPids();
      rota.signal("SIGKILL");
      try {
        const answer = await publishing;
        assert.equal(answer.status, 500, `the request got rota's answer, not a cut connection: ${answer}`);
        assert.equal(answer.body.code, "ERR_ROTA_CONFIG");
        assert.match(String(answer.body.message), /the supervisor went away/);
        await waitFor("the orphaned workers to drain and exit", () => workers.every((pid) => !alive(pid)), 15000);
      } finally {
        for (const pid of workers) if (alive(pid)) process.kill(pid, "SIGKILL");
      }
    });

    test("a missing or malformed --app-config file is a clear startup error", async () => {
      const dir = mkdtempSync(join(tmpdir(), "rota-"));
      const missing = Rota.run(target, ["serve", "config_app.js", "--app-config", join(dir, "absent.json")]);
      assert.deepEqual(await missing.ended(), { code: 1, signal: null });
      assertOneClearLine(missing, /Cannot read configuration file '[^']*absent\.json'/);
      writeFileSync(join(dir, "bad.json"), "{ oops");
      const malformed = Rota.run(target, ["serve", "config_app.js", "--app-config", join(dir, "bad.json")]);
      assert.deepEqual(await malformed.ended(), { code: 1, signal: null });
      assertOneClearLine(
        malformed,
        /Cannot read configuration file '[^']*bad\.json': invalid JSON at line 1, column 3: expected a property name/,
      );
    });
  });
}
