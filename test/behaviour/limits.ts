/**
 * The limits suite: wedged workers, timeouts, memory and body limits, and
 * hostile apps (issue 11, items 5 to 10), against real rota processes of one
 * runtime. Each `<runtime>.test.ts` beside this file runs it for one target.
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, describe, test } from "node:test";
import {
  alive,
  type Answer,
  get,
  killLeftovers,
  load,
  type LoadResult,
  type LoadSample,
  Rota,
  type Target,
  TARGETS,
  waitFor,
} from "../_harness.ts";

const MB = 1024 * 1024;

function assertNothingLost(result: LoadResult): void {
  assert.deepEqual(result.lost, {}, "every request got an answer");
  assert.deepEqual(result.bad, {}, "every answer was 2xx");
  assert.equal(result.ok, result.sent);
}

/** Every line the rota printed on standard error is one of its own log lines (pretty format). */
function assertAllLogLines(rota: Rota, except: RegExp = /^$/): void {
  const stray = rota.stderr.split("\n").filter((line) =>
    line !== "" && !/^\d\d:\d\d:\d\d\.\d{3} (INFO|WARN|ERROR) +rota\[/.test(line) && !except.test(line)
  );
  assert.deepEqual(stray, [], "every line on stderr is in the log format");
}

/** One request with a body, sent by hand: a declared Content-Length, or chunked. */
function send(
  url: string,
  options: { contentLength?: number; body: Buffer; chunkSize?: number; timeoutMs?: number },
): Promise<Answer> {
  const { contentLength, body, chunkSize = 64 * 1024, timeoutMs = 10000 } = options;
  return new Promise((done, fail) => {
    const headers: Record<string, string> = contentLength === undefined
      ? { "transfer-encoding": "chunked" }
      : { "content-length": String(contentLength) };
    const request = http.request(url, { method: "POST", agent: false, headers, timeout: timeoutMs }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => done({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      response.on("error", fail);
    });
    request.on("timeout", () => request.destroy(new Error(`POST ${url} timed out`)));
    // The server may answer and close before the whole body is written: that is the point.
    request.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") return fail(error);
      // The answer may still be on its way; one that never comes fails the wait (it hung the suite for minutes).
      setTimeout(() => fail(new Error(`POST ${url}: ${error.code} and no answer within ${timeoutMs}ms`)), timeoutMs)
        .unref();
    });
    let offset = 0;
    const writeMore = () => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + chunkSize);
        offset += chunk.length;
        if (!request.write(chunk)) return void request.once("drain", writeMore);
      }
      // With a declared length larger than the body, the request stays open: the server must answer first.
      if (contentLength === undefined || contentLength <= body.length) request.end();
    };
    writeMore();
  });
}

/** The resident set size of a process, in bytes, from /proc. */
function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Where an outage started and ended, from load samples: requests that failed or took longer than `slowMs`. */
function outage(samples: LoadSample[], slowMs = 1000): { affected: number; windowMs: number; worstMs: number } {
  const hit = samples.filter((s) => !s.ok || s.ms > slowMs);
  if (hit.length === 0) return { affected: 0, windowMs: 0, worstMs: 0 };
  const from = Math.min(...hit.map((s) => s.at));
  const to = Math.max(...hit.map((s) => s.at + s.ms));
  return { affected: hit.length, windowMs: to - from, worstMs: Math.max(...hit.map((s) => s.ms)) };
}

/**
 * Register the limits suite for one target.
 *
 * @param key A key of `TARGETS`.
 */
export function limitsSuite(key: keyof typeof TARGETS): void {
  const target: Target = TARGETS[key]();
  const v8 = key !== "bun";

  describe(`rota's limits on ${target.name}`, { timeout: 240_000 }, () => {
    after(killLeftovers);

    describe("wedged workers", () => {
      test("a wedged worker is killed after --watchdog-timeout, logged with the request it was running, and replaced at once", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "2", "--watchdog-timeout", "2s"]);
        const spinning = get(`${rota.url}/spin`, 30000).then(() => "answered", (error) => String(error));
        const [, slot, victim, silentMs, runningMs] = await rota.waitForLog(
          /watchdog: worker (\d)\.0 \(pid (\d+)\) sent no heartbeat for (\d+)ms; killing it \(it was running GET \/spin for (\d+)ms\)/,
          15000,
        );
        assert.ok(Number(silentMs) >= 2000, `silent for ${silentMs}ms`);
        assert.ok(Number(runningMs) >= 2000, `the request ran for ${runningMs}ms`);
        await rota.waitForLog(new RegExp(`started worker ${slot}\\.1 `), 5000);
        await waitFor("the wedged worker to be gone", () => !alive(Number(victim)), 5000);
        assert.notEqual(await spinning, "answered", "the wedged request died with its worker");
        await rota.waitForLog(new RegExp(`worker ${slot}\\.1 #\\d+\\] init succeeded`), 15000);
        const answers = await Promise.all(Array.from({ length: 20 }, () => get(rota.url)));
        assert.ok(answers.every((a) => a.status === 200));
        assert.equal((await rota.stop()).code, 0);
        assert.match(rota.log, /shutting down gracefully \([^)]*watchdogKills=1/);
        assert.doesNotMatch(rota.log, /exited unexpectedly/, "a watchdog kill is reported as such, not as a crash");
      });

      test("while one worker of two is wedged, new connections keep being answered", async (t) => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "2", "--watchdog-timeout", "2s"]);
        const samples: LoadSample[] = [];
        let replacementReady = 0;
        const loading = load(`${rota.url}/`, {
          connections: 8,
          durationMs: 30000,
          maxRequests: 1_000_000,
          keepAlive: false,
          samples,
          done: () => replacementReady > 0 && Date.now() > replacementReady + 1500,
        });
        await new Promise((r) => setTimeout(r, 500));
        const wedgedAt = Date.now();
        void get(`${rota.url}/spin`, 30000).catch(() => {});
        const [, slot] = await rota.waitForLog(/watchdog: worker (\d)\.0 \(pid \d+\) sent no heartbeat/, 15000);
        const killedAt = Date.now();
        await rota.waitForLog(new RegExp(`worker ${slot}\\.1 #\\d+\\] init succeeded`), 15000);
        replacementReady = Date.now();
        const result = await loading;
        const seen = outage(samples.filter((s) => s.at >= wedgedAt));
        t.diagnostic(
          `new-connection load, ${result.sent} requests: ${seen.affected} failed or slower than 1 s, ` +
            `over ${seen.windowMs} ms, the worst ${seen.worstMs} ms; lost ${JSON.stringify(result.lost)}`,
        );
        // What the wedged worker had accepted dies with it; at most one request per client connection.
        const failed = samples.filter((s) => !s.ok).length;
        assert.ok(failed <= 8, `${failed} requests failed`);
        const late = samples.filter((s) => s.at > killedAt + 250);
        assert.ok(late.length > 0 && late.every((s) => s.ok), "every request after the kill was answered");
        assert.equal((await rota.stop()).code, 0);
      });

      test("a SIGSTOPped worker is detected by the watchdog and replaced while the other serves", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "2", "--watchdog-timeout", "2s"]);
        const [victim, survivor] = rota.workerPids();
        process.kill(victim, "SIGSTOP");
        try {
          await rota.waitForLog(
            new RegExp(
              `watchdog: worker 0\\.0 \\(pid ${victim}\\) sent no heartbeat for \\d+ms; killing it \\(it was idle\\)`,
            ),
            15000,
          );
          await waitFor("the stopped worker to be gone", () => !alive(victim), 5000);
        } finally {
          if (alive(victim)) process.kill(victim, "SIGKILL");
        }
        await rota.waitForLog(/worker 0\.1 #\d+\] init succeeded/, 15000);
        const answers = await Promise.all(Array.from({ length: 20 }, () => get(rota.url)));
        assert.ok(answers.every((a) => a.status === 200));
        assert.ok(alive(survivor), "the other worker was never touched");
        assert.equal((await rota.stop()).code, 0);
      });

      test("a freeze of every process at once (a loaded or suspended machine) kills nobody", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "2", "--watchdog-timeout", "2s"]);
        const pids = [rota.child.pid!, ...rota.workerPids()];
        for (const pid of pids) process.kill(pid, "SIGSTOP");
        await new Promise((r) => setTimeout(r, 3000));
        for (const pid of pids) process.kill(pid, "SIGCONT");
        // Long enough for a second beat, and for the watchdog to have looked twice.
        await new Promise((r) => setTimeout(r, 2500));
        assert.doesNotMatch(rota.log, /sent no heartbeat/);
        assert.deepEqual(rota.workerPids(), pids.slice(1), "no worker was replaced");
        assert.equal((await get(rota.url)).status, 200);
        assert.equal((await rota.stop()).code, 0);
      });

      test("a worker that blocks while importing the app or in its first init is killed by the watchdog too", async () => {
        for (const stage of ["import", "init"]) {
          const marker = join(mkdtempSync(join(tmpdir(), "rota-")), "first");
          const rota = await Rota.serve(target, "wedges_once.js", ["--workers", "1", "--watchdog-timeout", "2s"], {
            env: { ROTA_TEST_MARKER: marker, ROTA_TEST_WEDGE: stage },
            ready: /1 of 1 workers ready/,
          });
          const what = stage === "import" ? "importing the app" : "in init attempt 1";
          assert.match(
            rota.log,
            new RegExp(
              `watchdog: worker 0\\.0 \\(pid \\d+\\) sent no heartbeat for \\d+ms; killing it \\(it was ${what}\\)`,
            ),
          );
          assert.equal((await get(rota.url)).status, 200);
          assert.equal((await rota.stop()).code, 0);
        }
      });
    });

    describe("request timeout", () => {
      test("--request-timeout answers 504, logs the route, aborts request.signal and drops the late response", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1", "--request-timeout", "1s"]);
        // The app answers /sleep after 3 s: a 504 can only be rota's, cutting it at 1 s.
        const slow = await get(`${rota.url}/sleep?ms=3000`);
        assert.equal(slow.status, 504);
        assert.deepEqual(JSON.parse(slow.body), { error: "gateway timeout" });
        await rota.waitForLog(/request timed out after 1000ms: GET \/sleep/);
        const signalled = await get(`${rota.url}/signal?ms=5000`);
        assert.equal(signalled.status, 504);
        await rota.waitForLog(/signal outcome: aborted/, 3000);
        // The app's own answers come later (its /signal handler returns once aborted); they are dropped without harm.
        const after = await get(rota.url);
        assert.equal(after.status, 200);
        assert.equal(rota.workerPids().length, 1, "nobody was restarted");
        assert.equal((await rota.stop()).code, 0);
      });

      test("without --request-timeout a 12 s request and a stream quiet for 11 s are answered in full", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1"]);
        const [slow, sse] = await Promise.all([
          get(`${rota.url}/sleep?ms=12000`, 20000),
          get(`${rota.url}/sse?quiet=11000`, 20000),
        ]);
        assert.equal(slow.status, 200);
        assert.equal(JSON.parse(slow.body).path, "/sleep");
        assert.equal(sse.status, 200);
        assert.match(sse.body, /^data: first \d+\n\ndata: second\n\n$/);
        assert.equal((await rota.stop()).code, 0);
      });
    });

    describe("memory", () => {
      /** Grow a worker's heap until its RSS (as the worker sees it) passes `bytes`. */
      async function growPast(rota: Rota, bytes: number): Promise<{ pid: number; rss: number }> {
        let last = JSON.parse((await get(`${rota.url}/grow?mb=0`)).body);
        while (last.rss < bytes) {
          const step = Math.max(1, Math.ceil((bytes - last.rss) / MB / 2));
          last = JSON.parse((await get(`${rota.url}/grow?mb=${step}`, 30000)).body);
        }
        return last;
      }

      test("a worker above --max-memory, as the supervisor measures it, is recycled replacement-first under load without losing a request", async () => {
        // Room between the soft limit and the hard one (300 MB) for what the load adds before the next measurement:
        // on Bun, garbage not yet collected took the resident set from 160 to 227 MB within a second once, under CI.
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1", "--max-memory", "200MB"]);
        if (v8) {
          const { heapLimit } = JSON.parse((await get(`${rota.url}/heap-limit`)).body);
          // The hard limit (300 MB) for the old space, plus the young generation V8 adds on top (96 to 192 MB here).
          const hard = 300 * MB;
          assert.ok(
            heapLimit > hard && heapLimit < hard + 256 * MB,
            `V8's heap limit follows --max-memory: ${heapLimit}`,
          );
        }
        const replaced = /is ready and replaces worker 0\.0/;
        const loading = load(`${rota.url}/`, {
          connections: 4,
          durationMs: 30000,
          maxRequests: 1_000_000,
          keepAlive: true,
          done: () => replaced.test(rota.log),
        });
        const grown = await growPast(rota, 205 * MB);
        await rota.waitForLog(
          new RegExp(`worker 0\\.0 \\(pid ${grown.pid}\\) uses \\d+MB, above --max-memory 200MB: recycling`),
          10000,
        );
        assertNothingLost(await loading);
        assert.match(rota.log, replaced);
        assert.doesNotMatch(rota.log, /above the hard limit/);
        assert.equal((await rota.stop()).code, 0);
      });

      test("a worker above the hard limit (1.5 x --max-memory) stops taking connections at once and is replaced", async () => {
        // A slow init keeps a replacement from getting ready before the next measurement, so the hard
        // limit is seen whether or not a measurement caught the worker on its way past the soft one.
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "2", "--max-memory", "100MB"], {
          env: { ROTA_TEST_INIT_MS: "2000" },
        });
        const loading = load(`${rota.url}/`, {
          connections: 4,
          durationMs: 30000,
          maxRequests: 1_000_000,
          keepAlive: false,
          done: () => /worker \d\.1 #\d+\] init succeeded/.test(rota.log),
        });
        const grown = JSON.parse((await get(`${rota.url}/grow?mb=140`, 30000)).body);
        const [, slot] = await rota.waitForLog(
          new RegExp(
            `worker (\\d)\\.0 \\(pid ${grown.pid}\\) uses \\d+MB, above the hard limit of 150MB: replacing it now`,
          ),
          10000,
        );
        await waitFor("the grown worker to exit", () => !alive(grown.pid), 5000);
        assert.doesNotMatch(
          rota.log,
          new RegExp(`worker ${slot}\\.1 #\\d+\\] init succeeded`),
          "it left before its replacement was ready: not replacement-first",
        );
        assertNothingLost(await loading);
        assert.equal((await rota.stop()).code, 0);
      });

      test("an only worker above the hard limit hands over to a replacement that listens at once, and nothing is lost", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1", "--max-memory", "100MB"], {
          env: { ROTA_TEST_INIT_MS: "1000" },
        });
        const [big] = rota.workerPids();
        const loading = load(`${rota.url}/`, {
          connections: 4,
          durationMs: 30000,
          maxRequests: 1_000_000,
          keepAlive: false,
          done: () => /worker 0\.1 #\d+\] init succeeded/.test(rota.log) && !alive(big),
        });
        void get(`${rota.url}/grow?mb=160`, 30000).catch(() => {});
        await rota.waitForLog(
          /worker 0\.0 \(pid \d+\) uses \d+MB, above the hard limit of 150MB: replacing it now/,
          10000,
        );
        const result = await loading;
        assertNothingLost(result);
        assert.ok(result.pids.has(big) && result.pids.size === 2, "both answered: no gap between them");
        assert.equal((await rota.stop()).code, 0);
      });

      test("the supervisor measures a wedged worker's memory itself and replaces it", async () => {
        const rota = await Rota.serve(target, "hostile.js", [
          "--workers",
          "1",
          "--max-memory",
          "150MB",
          "--watchdog-timeout",
          "0",
          "--graceful-timeout",
          "1s",
        ]);
        const [wedged] = rota.workerPids();
        const before = JSON.parse((await get(`${rota.url}/grow?mb=0`)).body).rss;
        void get(`${rota.url}/grow-then-spin?mb=${Math.ceil((175 * MB - before) / MB)}`, 30000).catch(() => {});
        await rota.waitForLog(
          new RegExp(`worker 0\\.0 \\(pid ${wedged}\\) uses \\d+MB, above --max-memory 150MB`),
          20000,
        );
        await rota.waitForLog(/is ready and replaces worker 0\.0/, 20000);
        await waitFor("the wedged worker to be killed", () => !alive(wedged), 15000);
        const answer = await get(rota.url);
        assert.equal(answer.status, 200);
        assert.notEqual(JSON.parse(answer.body).pid, wedged);
        assert.equal((await rota.stop()).code, 0);
      });
    });

    describe("bodies and headers", () => {
      test("a body whose Content-Length passes --max-body gets 413 before it is read", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1", "--max-body", "1MB"]);
        const declared = await send(`${rota.url}/body`, { contentLength: 5 * MB, body: Buffer.alloc(10, 97) });
        assert.equal(declared.status, 413);
        assert.deepEqual(JSON.parse(declared.body), { error: "payload too large" });
        assert.equal(declared.headers.connection, "close");
        await rota.waitForLog(/request body of 5242880 bytes is above --max-body 1048576: POST \/body/);
        const fits = await send(`${rota.url}/body`, { contentLength: 900 * 1024, body: Buffer.alloc(900 * 1024, 97) });
        assert.deepEqual([fits.status, JSON.parse(fits.body).length], [200, 900 * 1024]);
        assert.equal((await rota.stop()).code, 0);
      });

      test("a chunked body that passes --max-body fails the app's read and gets 413, read to its end so that no reset loses it", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1", "--max-body", "1MB"]);
        // Node's client sends the whole body before it reads the answer: without rota reading the rest (a lingering
        // close), the connection was reset under it and the 413 lost, in 2 of 3 tries on Bun.
        for (let i = 0; i < 6; i++) {
          const over = await send(`${rota.url}/body`, { body: Buffer.alloc(3 * MB, 97) });
          assert.equal(over.status, 413, `try ${i}`);
          assert.deepEqual(JSON.parse(over.body), { error: "payload too large" });
          // The client asked to close (no agent): said once, even where the runtime says it too (Deno.serve).
          assert.equal(over.headers.connection, "close", `try ${i}`);
        }
        await rota.waitForLog(/request body passed --max-body 1048576 while streaming: POST \/body/);
        const fits = await send(`${rota.url}/body`, { body: Buffer.alloc(900 * 1024, 97) });
        assert.deepEqual([fits.status, JSON.parse(fits.body).length], [200, 900 * 1024]);
        assert.equal((await get(rota.url)).status, 200, "the worker serves on");
        assert.equal((await rota.stop()).code, 0);
      });

      test("--max-body defaults to 10MB and bodies under it are read whole", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1"]);
        const [pid] = rota.workerPids();
        const big = await send(`${rota.url}/body`, { contentLength: 1024 * MB, body: Buffer.alloc(10, 97) });
        assert.equal(big.status, 413);
        const chunked = await send(`${rota.url}/body`, {
          body: Buffer.alloc(64 * MB, 97),
          chunkSize: MB,
          timeoutMs: 30000,
        });
        assert.equal(chunked.status, 413);
        assert.ok(rssOf(pid) < 400 * MB, `the worker did not buffer the body: RSS ${Math.round(rssOf(pid) / MB)}MB`);
        const fits = await send(`${rota.url}/body`, { contentLength: 9 * MB, body: Buffer.alloc(9 * MB, 97) });
        assert.deepEqual([fits.status, JSON.parse(fits.body).length], [200, 9 * MB]);
        assert.equal((await rota.stop()).code, 0);
      });

      // Deno.serve (the deno target) takes ~60 KiB and answers 400 above; the others 431 above 16 KiB.
      const head = key === "deno" ? { size: 64 * 1024, status: 400, passes: 32 * 1024 } : {
        size: 32 * 1024,
        status: 431,
        passes: 8 * 1024,
      };
      /**
       * The status a request too large gets. A reset instead of an answer was seen once (Deno's `node:http` at
       * 32 KiB, on a loaded machine), most likely the runtime answering before it read the whole head and closing,
       * the kernel then resetting over the unread rest: a reset is tried again, at most three times in all; any
       * answer is returned at once.
       */
      const refusal = async (send: () => Promise<number>): Promise<number | string> => {
        const once = () => send().catch((error: NodeJS.ErrnoException) => error.code ?? String(error));
        let outcome = await once();
        for (let retry = 1; retry < 3 && outcome === "ECONNRESET"; retry++) outcome = await once();
        return outcome;
      };
      test(`headers and URLs above the runtime's limit get ${head.status}`, async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1"]);
        /** The status of a GET with one header of `size` bytes. */
        const withHeader = (size: number) =>
          new Promise<number>((done, fail) => {
            const request = http.get(`${rota.url}/`, { agent: false, headers: { "x-big": "a".repeat(size) } });
            request.on("response", (response) => {
              response.resume();
              done(response.statusCode ?? 0);
            });
            request.on("error", fail);
          });
        assert.equal(await withHeader(head.passes), 200);
        assert.equal(await refusal(() => withHeader(head.size)), head.status);
        assert.equal(
          await refusal(() => get(`${rota.url}/${"u".repeat(head.size)}`).then((a) => a.status)),
          head.status,
        );
        assert.equal((await get(rota.url)).status, 200);
        assert.equal((await rota.stop()).code, 0);
      });
    });

    describe("hostile apps", () => {
      test("anything the app returns that is not a Response gets rota's generic 500 and a log line", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1"]);
        for (const path of ["/duck", "/duck-body"]) {
          const answer = await get(`${rota.url}${path}`);
          assert.equal(answer.status, 500, path);
          assert.deepEqual(JSON.parse(answer.body), { error: "internal server error" }, path);
          await rota.waitForLog(new RegExp(`fetch returned an object instead of a Response: GET ${path}`));
        }
        assert.equal((await get(rota.url)).status, 200);
        assert.equal((await rota.stop()).code, 0);
        assertAllLogLines(rota);
      });

      test("an app whose response stream fails is logged in the log format, and the connection is cut", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1"]);
        const broken = await get(`${rota.url}/stream-error`).then((a) => `answered ${a.status} ${a.body}`, String);
        assert.doesNotMatch(broken, /the stream broke/, "the error text never reaches the client");
        assert.doesNotMatch(broken, /^answered 200 chunk 1\nchunk 2\n$/, "a broken stream never looks complete");
        await rota.waitForLog(/response stream failed: the stream broke \(method=GET path=\/stream-error/);
        assert.equal((await get(rota.url)).status, 200, "the worker serves on");
        assert.equal((await rota.stop()).code, 0);
        assertAllLogLines(rota);
      });

      test("a flood of malformed IPC messages is logged a few times a second with a count of the rest", async () => {
        const rota = await Rota.serve(target, "hostile.js", ["--workers", "1"]);
        const flood = await get(`${rota.url}/flood?n=20000`);
        assert.equal(flood.status, 200);
        if (key === "deno") {
          // Workers on Deno.serve are spawned with rota's own channel: the app has no handle on it to flood.
          assert.equal(flood.body, "no channel");
          assert.equal((await rota.stop()).code, 0);
          return;
        }
        await rota.waitForLog(/suppressed (\d+) similar warnings/, 15000);
        assert.equal((await get(rota.url)).status, 200, "still serving");
        const logged = rota.log.match(/ignored a malformed message/g)?.length ?? 0;
        const suppressed = [...rota.log.matchAll(/suppressed (\d+) similar warnings/g)]
          .reduce((sum, m) => sum + Number(m[1]), 0);
        assert.ok(logged <= 30, `${logged} lines logged`);
        assert.equal(logged + suppressed, 20000, "every message is accounted for");
        assert.ok(rota.log.length < 64 * 1024, `${rota.log.length} bytes of log`);
        assert.equal((await rota.stop()).code, 0);
      });

      test("a configuration write-back that fails is logged by the supervisor and leaves no temporary file", async () => {
        const dir = mkdtempSync(join(tmpdir(), "rota-"));
        const file = join(dir, "config.json");
        writeFileSync(file, JSON.stringify({ step: 0 }));
        const rota = await Rota.serve(target, "config_app.js", ["--workers", "1", "--app-config", file]);
        // A directory where the file was: reading it fails, and so does renaming a new version over it.
        rmSync(file);
        mkdirSync(file);
        await rota.waitForLog(/Cannot read configuration file[^\n]*keeping version \d+/);
        const published = await fetch(`${rota.url}/config`, {
          method: "POST",
          body: JSON.stringify({ value: { step: 1 } }),
        });
        assert.equal(published.status, 500);
        assert.equal((await published.json()).code, "ERR_ROTA_CONFIG");
        await rota.waitForLog(/ERROR +rota\[supervisor[^\]]*\] Cannot write configuration file '[^']*config\.json'/);
        assert.deepEqual(readdirSync(dir), ["config.json"], "no temporary file is left behind");
        assert.equal((await rota.stop()).code, 0);
      });
    });
  });
}
