/**
 * The behavioural suite: the same tests against real rota processes of one
 * runtime. Each `<runtime>.test.ts` beside this file runs it for one target.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { spawn } from "node:child_process";
import { once } from "node:events";
import process from "node:process";
import {
  alive,
  FIXTURES,
  freePort,
  get,
  killLeftovers,
  load,
  type LoadResult,
  type LoadSample,
  ROOT,
  Rota,
  type Target,
  TARGETS,
  waitFor,
} from "../_harness.ts";
import { configSuite } from "./config.ts";
import { initContractSuite } from "./init_contract.ts";
import { signalsSuite } from "./signals.ts";

/** Assert the process printed `pattern` as one clear line and no stack trace. */
function assertOneClearLine(rota: Rota, pattern: RegExp): void {
  const lines = rota.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${rota.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(rota.log, /^\s+at /m, "no stack trace");
}

/**
 * The pids that answer, asking until `want` did. Each request keeps its worker
 * busy for a moment, so that a shared socket (where any idle worker may take
 * every connection) hands concurrent connections to different workers.
 */
async function pidsAnswering(url: string, want: number, maxRequests: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let sent = 0; sent < maxRequests && pids.size < want; sent += 4) {
    const answers = await Promise.all(Array.from({ length: 4 }, () => get(`${url}/spin?ms=100`)));
    for (const answer of answers) {
      assert.equal(answer.status, 200, answer.body);
      pids.add(JSON.parse(answer.body).pid);
    }
  }
  return pids;
}

function assertNothingLost(result: LoadResult): void {
  assert.deepEqual(result.lost, {}, "every request got an answer");
  assert.deepEqual(result.bad, {}, "every answer was 2xx");
  assert.equal(result.ok, result.sent);
}

function count(log: string, pattern: RegExp): number {
  return (log.match(new RegExp(pattern, "g")) ?? []).length;
}

/**
 * Register the suite for one target.
 *
 * @param key A key of `TARGETS`.
 */
export function behaviourSuite(key: keyof typeof TARGETS): void {
  const target: Target = TARGETS[key]();
  const runtime = key.split("-")[0];

  describe(`rota on ${target.name}`, { timeout: 180_000 }, () => {
    after(killLeftovers);

    test("serve starts N workers that all answer on one shared port", async () => {
      const rota = await Rota.serve(target, "hello.js", ["--workers", "2"]);
      assert.match(rota.log, /2 of 2 workers ready/);
      const started = rota.workerPids();
      assert.equal(started.length, 2);
      const answering = await pidsAnswering(rota.url, 2, 400);
      assert.deepEqual([...answering].sort(), [...started].sort());
      const answer = JSON.parse((await get(`${rota.url}/x`)).body);
      assert.equal(answer.runtime, runtime);
      assert.equal(answer.attempt, 1, "init ran once, at worker start");
      assert.deepEqual(await rota.stop(), { code: 0, signal: null });
    });

    test("init that fails twice leaves the worker up, answering 503 with Retry-After, until it succeeds on the same pid", async () => {
      const rota = await Rota.serve(target, "flaky.js", ["--workers", "1"], {
        env: { ROTA_TEST_FAIL_TIMES: "2" },
        ready: /0 of 1 workers ready/,
      });
      const [pid] = rota.workerPids();
      const refused = await get(rota.url);
      assert.equal(refused.status, 503);
      assert.match(String(refused.headers["retry-after"]), /^[1-9]\d*$/);
      assert.match(String(refused.headers["content-type"]), /^application\/json/);
      assert.doesNotMatch(refused.body, /SECRET|postgres/, "the error text stays in the log");
      assert.match(rota.log, /init attempt 1 failed: cannot reach database/);

      const ok = await waitFor(
        "init to succeed",
        async () => {
          const answer = await get(rota.url);
          assert.ok(answer.status === 200 || answer.status === 503, `unexpected ${answer.status}`);
          if (answer.status === 503) assert.ok(answer.headers["retry-after"]);
          return answer.status === 200 ? JSON.parse(answer.body) : undefined;
        },
        20000,
        200,
      );
      assert.equal(ok.pid, pid, "the same process recovered: no restart");
      assert.equal(ok.attempt, 3);
      assert.match(rota.log, /init attempt 2 failed/);
      assert.ok(alive(pid));
      assert.equal(rota.workerPids().length, 1, "no worker was respawned");
      assert.equal((await rota.stop()).code, 0);
    });

    test("a worker whose init ignores its abort signal past the deadline is replaced", async () => {
      const marker = join(mkdtempSync(join(tmpdir(), "rota-")), "first");
      const rota = await Rota.serve(target, "hangs_once.js", ["--workers", "1", "--init-timeout", "300ms"], {
        env: { ROTA_TEST_MARKER: marker },
        ready: /0 of 1 workers ready/,
      });
      const [hung] = rota.workerPids();
      assert.equal((await get(rota.url)).status, 503);
      await rota.waitForLog(/init attempt 1 failed: init attempt 1 did not finish within 300ms/);
      await rota.waitForLog(/init attempt 1 ignores its abort signal/, 20000);
      await rota.waitForLog(/is ready and replaces worker 0\.0/, 20000);
      await waitFor("the hung worker to exit", () => !alive(hung), 15000);
      const answer = await get(rota.url);
      assert.equal(answer.status, 200);
      assert.notEqual(JSON.parse(answer.body).pid, hung);
      assert.equal((await rota.stop()).code, 0);
    });

    test("a worker killed by SIGKILL is respawned while the other keeps serving", async () => {
      const rota = await Rota.serve(target, "hello.js", ["--workers", "2"]);
      const [victim, survivor] = rota.workerPids();
      process.kill(victim, "SIGKILL");
      await rota.waitForLog(new RegExp(`pid ${victim}\\) exited unexpectedly \\(signal SIGKILL\\)`));
      for (let i = 0; i < 20; i++) {
        assert.equal((await get(`${rota.url}/x`)).status, 200, "the rota keeps answering");
      }
      const replacement = await waitFor("a respawned worker", () => rota.workerPids()[2]);
      assert.ok(![victim, survivor].includes(replacement));
      await rota.waitForLog(/worker 0\.1 #\d+\] init succeeded|worker 1\.1 #\d+\] init succeeded/);
      assert.ok(alive(survivor) && alive(replacement));
      assert.equal((await rota.stop()).code, 0);
    });

    test("SIGTERM lets an in-flight request finish, runs dispose, and exits 0", async () => {
      const disposeLog = join(mkdtempSync(join(tmpdir(), "rota-")), "dispose.log");
      const rota = await Rota.serve(target, "hello.js", ["--workers", "1"], {
        env: { ROTA_TEST_DISPOSE_LOG: disposeLog },
      });
      const [pid] = rota.workerPids();
      const inFlight = get(`${rota.url}/slow?ms=1500`);
      await rota.waitForLog(/fixture: slow request started/);
      rota.signal("SIGTERM");
      const answer = await inFlight;
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.connection, "close");
      assert.deepEqual(await rota.exited, { code: 0, signal: null });
      assert.equal(readFileSync(disposeLog, "utf8"), `${pid}\n`, "dispose ran once in the worker");
      assert.ok(!alive(pid));
    });

    test("a draining worker finishes waitUntil work before dispose and exit", async () => {
      const disposeLog = join(mkdtempSync(join(tmpdir(), "rota-")), "dispose.log");
      const rota = await Rota.serve(target, "hello.js", ["--workers", "1"], {
        env: { ROTA_TEST_DISPOSE_LOG: disposeLog },
      });
      const [pid] = rota.workerPids();
      assert.equal((await get(`${rota.url}/later`)).status, 200);
      rota.signal("SIGTERM");
      assert.deepEqual(await rota.exited, { code: 0, signal: null });
      assert.equal(readFileSync(disposeLog, "utf8"), `waitUntil done\n${pid}\n`);
    });

    test("a second SIGTERM forces the shutdown", async () => {
      const rota = await Rota.serve(target, "hello.js", ["--workers", "1", "--graceful-timeout", "60s"]);
      const [pid] = rota.workerPids();
      const inFlight = get(`${rota.url}/slow?ms=30000`, 40000).catch((error) => error);
      await rota.waitForLog(/fixture: slow request started/);
      rota.signal("SIGTERM");
      await rota.waitForLog(/shutting down gracefully/);
      rota.signal("SIGTERM");
      assert.deepEqual(await rota.exited, { code: 1, signal: null });
      await waitFor("the worker to be gone", () => !alive(pid), 5000);
      await inFlight;
    });

    test("workers drain and exit by themselves when the supervisor is killed", async () => {
      const rota = await Rota.serve(target, "hello.js", ["--workers", "2"]);
      const workers = rota.workerPids();
      const inFlight = get(`${rota.url}/slow?ms=1000`);
      await rota.waitForLog(/fixture: slow request started/);
      rota.signal("SIGKILL");
      await rota.exited;
      assert.equal((await inFlight).status, 200, "the in-flight request still gets its answer");
      await waitFor("orphaned workers to exit", () => workers.every((pid) => !alive(pid)), 15000, 100);
    });

    test("--max-restarts gives up with exit code 1 after that many crashes in a row", async () => {
      const rota = Rota.run(target, ["serve", "crashes.js", "--workers", "1", "--max-restarts", "2"]);
      assert.deepEqual(await rota.exited, { code: 1, signal: null });
      assert.equal(count(rota.log, /exited unexpectedly \(code 3\)/), 3);
      assert.match(rota.stderr, /rota: slot 0 crashed 3 times in a row \(--max-restarts 2\): giving up\n$/);
      assert.doesNotMatch(rota.log, /^\s+at /m);
    });

    test("malformed IPC messages are logged and ignored", async () => {
      const rota = await Rota.serve(target, "chatty.js", ["--workers", "1"]);
      const junk = await get(`${rota.url}/junk`);
      assert.equal(junk.status, 200);
      if (key === "deno") {
        // Workers on Deno.serve are spawned with rota's own channel: the app has no handle on it to misuse.
        assert.equal(junk.body, "no channel");
        assert.equal((await rota.stop()).code, 0);
        return;
      }
      await rota.waitForLog(/ignored a malformed message[^\n]*not a rota v1 message/);
      await rota.waitForLog(/ignored a malformed message[^\n]*'init-ok' needs 'attempt' as a number/);
      assert.equal((await get(`${rota.url}/`)).status, 200, "still serving");
      assert.equal(rota.workerPids().length, 1, "no worker was replaced");
      assert.equal((await rota.stop()).code, 0);
    });

    describe("bad input exits with one clear line", () => {
      const usage: Array<[string, string[], RegExp]> = [
        ["an unknown flag", ["serve", "hello.js", "--bogus", "1"], /Unknown flag '--bogus'/],
        ["an unknown command", ["frobnicate"], /Unknown command 'frobnicate'/],
        ["no app", ["serve", "--workers", "2"], /no app module was given/],
        [
          "--workers 0",
          ["serve", "hello.js", "--workers", "0"],
          /'workers' must be a positive integer: current value is 0/,
        ],
        [
          "--port 70000",
          ["serve", "hello.js", "--port", "70000"],
          /'port' must be an integer from 1 to 65535: current value is 70000/,
        ],
        [
          "a duration like soon",
          ["serve", "hello.js", "--graceful-timeout", "soon"],
          /'graceful-timeout' must be a duration like 500ms, 5s, 2m or 7d: current value is soon/,
        ],
      ];
      for (const [what, args, pattern] of usage) {
        test(`${what} exits 2`, async () => {
          const rota = Rota.run(target, args);
          assert.deepEqual(await rota.exited, { code: 2, signal: null });
          assertOneClearLine(rota, pattern);
        });
      }

      const failures: Array<[string, string, RegExp]> = [
        ["a missing app module", "nowhere.js", /Cannot find app module 'nowhere\.js'/],
        [
          "a default export of the wrong shape",
          "not_an_app.js",
          /default export must be an object with a fetch\(request, env\) method: current value is number/,
        ],
        ["an object without fetch", "no_fetch.js", /has no fetch\(request, env\) method/],
        [
          "an app that throws at import",
          "throws_at_import.js",
          /Cannot import app module 'throws_at_import\.js': configuration file \/etc\/app\.toml is unreadable/,
        ],
        [
          "a syntax error in a JavaScript app",
          "broken/syntax_error.js",
          /Cannot import app module 'broken\/syntax_error\.js': syntax error at \/\S+\/broken\/syntax_error\.js:3(:\d+)?: \S/,
        ],
        [
          "a syntax error in a TypeScript app",
          "broken/syntax_error.ts",
          /Cannot import app module 'broken\/syntax_error\.ts': syntax error at \/\S+\/broken\/syntax_error\.ts:3(:\d+)?: \S/,
        ],
        [
          "a syntax error in a module the app imports",
          "broken/imports_syntax_error.js",
          /Cannot import app module 'broken\/imports_syntax_error\.js': syntax error at \/\S+\/broken\/syntax_error\.js:3(:\d+)?: \S/,
        ],
      ];
      for (const [what, app, pattern] of failures) {
        test(`${what} exits 1 for serve and check`, async () => {
          for (const command of ["serve", "check"]) {
            const rota = Rota.run(target, [command, app, "--workers", "2"].slice(0, command === "check" ? 2 : 4));
            assert.deepEqual(await rota.exited, { code: 1, signal: null });
            assertOneClearLine(rota, pattern);
          }
        });
      }

      test("a port already in use exits 1 without starting a respawn loop", async () => {
        const blocker = createServer();
        await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
        const { port } = blocker.address() as { port: number };
        try {
          const rota = Rota.run(target, ["serve", "hello.js", "--port", String(port), "--workers", "2"]);
          assert.deepEqual(await rota.exited, { code: 1, signal: null });
          assertOneClearLine(rota, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`));
        } finally {
          blocker.close();
        }
      });
    });

    if (key === "deno") {
      test("Deno without --allow-run exits 1 with one line naming the missing permission", async () => {
        const deno = target.script[0];
        const denied: Target = {
          ...target,
          command: [deno, "run", "--allow-read", "--allow-env", "--allow-net", join(ROOT, "main.ts")],
        };
        const rota = Rota.run(denied, ["serve", "hello.js", "--workers", "1"]);
        assert.deepEqual(await rota.ended(), { code: 1, signal: null });
        assertOneClearLine(rota, /lacks --allow-run[^\n]*: run with -A/);
      });
    }

    test("check accepts a valid app and --help lists the flags", async () => {
      const check = Rota.run(target, ["check", "hello.js"]);
      assert.equal((await check.exited).code, 0);
      assert.match(check.stdout, /is a valid app \(init, fetch, dispose\)/);
      const help = Rota.run(target, ["--help"]);
      assert.equal((await help.exited).code, 0);
      for (const flag of ["--port", "--workers", "--graceful-timeout", "--init-timeout"]) {
        assert.ok(help.stdout.includes(flag), flag);
      }
    });

    describe("recycling, replacement first", () => {
      test("a one-worker rota recycled every 200 requests under keep-alive load loses nothing", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "1", "--max-requests", "200"]);
        const replaced = () => count(rota.log, /is ready and replaces worker/);
        const result = await load(`${rota.url}/x`, {
          connections: 8,
          durationMs: 30000,
          maxRequests: 500000,
          keepAlive: true,
          done: () => replaced() >= 3,
        });
        assertNothingLost(result);
        assert.ok(replaced() >= 3, "recycled three times while the load ran");
        assert.ok(result.pids.size >= 3, `requests answered by ${result.pids.size} generations`);
        assert.equal((await rota.stop()).code, 0);
      });

      test("SIGHUP under new-connection load replaces every worker and loses nothing", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "2"]);
        const before = rota.workerPids();
        const oldGone = () => before.every((pid) => !alive(pid));
        const samples: LoadSample[] = [];
        const loading = load(`${rota.url}/x`, {
          connections: 8,
          durationMs: 30000,
          maxRequests: 500000,
          keepAlive: false,
          done: oldGone,
          samples,
        });
        // The reload lands on a load that is running: answers are coming back.
        await waitFor("the load to be answered", () => samples.length >= 20, 15000, 10);
        rota.signal("SIGHUP");
        const result = await loading;
        assertNothingLost(result);
        assert.ok(oldGone(), "the load ran until both old workers had drained and exited");
        const after = await pidsAnswering(rota.url, 2, 400);
        assert.ok([...after].every((pid) => !before.includes(pid)), "only new workers answer");
        assert.equal((await rota.stop()).code, 0);
      });

      test("a replacement whose init never succeeds is killed and the old worker keeps serving", async () => {
        const broken = join(mkdtempSync(join(tmpdir(), "rota-")), "broken");
        const rota = await Rota.serve(target, "breakable.js", ["--workers", "1", "--startup-timeout", "1500ms"], {
          env: { ROTA_TEST_BROKEN: broken },
        });
        const [old] = rota.workerPids();
        writeFileSync(broken, "");
        rota.signal("SIGHUP");
        await rota.waitForLog(/was not ready within 1500ms; killing it/);
        // Killed by rota, as it said: a kill, not a crash (no "exited unexpectedly", not counted in crashes).
        await rota.waitForLog(/worker 0\.1 \(pid \d+\) exited/);
        assert.doesNotMatch(rota.log, /exited unexpectedly/);
        for (let i = 0; i < 20; i++) {
          const answer = await get(rota.url);
          assert.equal(answer.status, 200);
          assert.equal(JSON.parse(answer.body).pid, old, "the old worker answers");
        }
        rmSync(broken);
        await rota.waitForLog(/is ready and replaces worker 0\.0/, 20000);
        await waitFor("the old worker to exit", () => !alive(old), 10000);
        assert.notEqual(JSON.parse((await get(rota.url)).body).pid, old);
        assert.equal((await rota.stop()).code, 0);
        assert.match(rota.log, /shutting down gracefully \([^)]*crashes=0/);
      });

      // --max-memory is in limits.ts, with the rest of the memory limits.
      test("--max-lifetime recycles workers", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "1", "--max-lifetime", "1s"]);
        const replaced = /is ready and replaces worker 0\.0/;
        const result = await load(`${rota.url}/x`, {
          connections: 2,
          durationMs: 30000,
          maxRequests: 500000,
          keepAlive: true,
          done: () => replaced.test(rota.log),
        });
        assertNothingLost(result);
        assert.match(rota.log, replaced);
        assert.match(rota.log, /recycling worker 0\.0 \(pid \d+\): lived 1000ms \(max lifetime\)/);
        assert.equal((await rota.stop()).code, 0);
      });
    });

    configSuite(target);

    describe("rota's own settings file", () => {
      test("rota.config.json in the working directory supplies the app module and the options", async () => {
        const dir = mkdtempSync(join(tmpdir(), "rota-"));
        const settings = { app: join(FIXTURES, "hello.js"), workers: 2, logFormat: "pretty" };
        writeFileSync(join(dir, "rota.config.json"), JSON.stringify(settings));
        const port = await freePort();
        const rota = Rota.run(target, ["serve", "--port", String(port)], { cwd: dir, port });
        await rota.waitForLog(/2 of 2 workers ready/);
        assert.match(rota.log, /settings from rota\.config\.json/);
        assert.equal((await get(rota.url)).status, 200);
        assert.equal((await rota.stop()).code, 0);
      });

      test("an unknown setting or malformed JSON in the settings file exits 2 with one line saying where", async () => {
        const dir = mkdtempSync(join(tmpdir(), "rota-"));
        writeFileSync(join(dir, "typo.json"), JSON.stringify({ workers: 2, wrokers: 2 }));
        const typo = Rota.run(target, ["serve", "hello.js", "--config", join(dir, "typo.json")]);
        assert.deepEqual(await typo.exited, { code: 2, signal: null });
        assertOneClearLine(typo, /Unknown setting 'wrokers' in '[^']*typo\.json'/);
        writeFileSync(join(dir, "rota.config.json"), '{\n  "workers": 2\n  "maxRequests": 100\n}\n');
        const malformed = Rota.run(target, ["serve", join(FIXTURES, "hello.js")], { cwd: dir });
        assert.deepEqual(await malformed.exited, { code: 2, signal: null });
        assertOneClearLine(
          malformed,
          /Cannot read settings file 'rota\.config\.json': invalid JSON at line 3, column 3: expected ',' or '}'/,
        );
      });
    });

    test("the esbuild bundle, dist/main.js, serves unchanged on this runtime", async () => {
      const bundled: Target = { ...target, command: [...target.script, join(ROOT, "dist", "main.js")] };
      const rota = await Rota.serve(bundled, "hello.js", ["--workers", "2"]);
      const answer = JSON.parse((await get(`${rota.url}/x`)).body);
      assert.equal(answer.runtime, runtime);
      assert.equal(answer.attempt, 1);
      assert.equal((await rota.stop()).code, 0);
    });

    test("an app that imports 'rota' by name (the quick start) is served", async () => {
      const rota = await Rota.serve(target, "imports_rota.js", ["--workers", "1"]);
      assert.match((await get(rota.url)).body, /^hello from \d+$/);
      assert.equal((await rota.stop()).code, 0);
    });

    test("an app that imports 'rota' gets the very modules rota runs: instanceof RotaError holds", async () => {
      const rota = await Rota.serve(target, "one_copy.js", ["--workers", "1"]);
      const answer = JSON.parse((await get(rota.url)).body);
      assert.deepEqual(answer, { conflict: true, code: "ERR_ROTA_CONFIG_CONFLICT", instanceOfRotaError: true });
      assert.equal((await rota.stop()).code, 0);
    });

    test("a TypeScript app that imports a TypeScript module is served", async () => {
      const rota = await Rota.serve(target, "typed.ts", ["--workers", "1"]);
      const answer = JSON.parse((await get(rota.url)).body);
      assert.deepEqual(answer, { greeting: "hello, typed", runtime: runtime });
      assert.equal((await rota.stop()).code, 0);
    });

    test("serve() from code starts, reports status, reloads every worker and closes", async () => {
      const port = await freePort();
      const [command, ...args] = [...target.script, join(FIXTURES, "programmatic.js")];
      const child = spawn(command, args, { cwd: FIXTURES, env: { ...process.env, PORT: String(port) } });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60000);
      const [code] = await once(child, "close");
      clearTimeout(timer);
      assert.equal(code, 0, out);
      const steps = Object.fromEntries(out.trim().split("\n").map((line) => JSON.parse(line)).map((s) => [s.step, s]));
      assert.equal(steps.started.pids.length, 2);
      assert.deepEqual(steps.started.states, ["ready", "ready"]);
      assert.deepEqual(steps.signals.after, steps.signals.before, "serve() installs no signal handlers");
      assert.equal(steps.answer.status, 200);
      assert.deepEqual(steps.answer.config, { mode: "from code" }, "serve({ appConfig }) is the initial value");
      assert.equal(steps.reloaded.stats.replacements, 2);
      assert.equal(steps.reloaded.stats.noWorkerReadyMs, 0);
      assert.ok(steps.reloaded.pids.every((pid: number) => !steps.started.pids.includes(pid)), "every worker replaced");
      assert.equal(steps.closed.code, 0);
    });

    signalsSuite(target);
    initContractSuite(target);

    test("options come from environment variables too", async () => {
      const rota = await Rota.serve(target, "hello.js", [], { env: { ROTA_WORKERS: "1" } });
      assert.match(rota.log, /1 of 1 workers ready/);
      assert.equal((await rota.stop()).code, 0);
    });
  });
}
