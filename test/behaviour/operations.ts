/**
 * Operating a real rota on one runtime: the health paths on the app port,
 * the Kubernetes shutdown sequence, metrics scraped and parsed, the control
 * socket through `rota status|reload|stop`, systemd's notify protocol on a
 * real datagram socket, and the log lines.
 */

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";
import type { RotaSnapshot } from "../../runtime/ops/snapshot.ts";
import { ensureDebianPackage } from "../_apt.ts";
import {
  type Answer,
  FIXTURES,
  freePort,
  get,
  killLeftovers,
  Rota,
  type Target,
  TARGETS,
  waitFor,
} from "../_harness.ts";
import { LineProcess } from "../_probe.ts";

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "rota-operations-"));
}

/** The admin listener's URL, from the supervisor's log line (`--admin 127.0.0.1:0` picks a free port). */
async function adminUrl(rota: Rota): Promise<string> {
  return (await rota.waitForLog(/admin listening on (http:\/\/[^/ ]+)\//))[1];
}

async function scrape(url: string): Promise<ParsedFamily[]> {
  const answer = await get(`${url}/metrics`);
  assert.equal(answer.status, 200);
  assert.equal(answer.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheusTextFormat(answer.body);
}

function samples(families: ParsedFamily[], name: string) {
  return families.find((family) => family.name === name)?.metrics ?? [];
}

/** One sample's value, or the sum over the samples whose labels match. */
function total(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number {
  return samples(families, name)
    .filter((metric) => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value))
    .reduce((sum, metric) => sum + Number(metric.value ?? metric.count), 0);
}

async function status(url: string): Promise<RotaSnapshot> {
  return JSON.parse((await get(`${url}/status.json`)).body);
}

/** GET on one keep-alive connection; every request reuses it while the server keeps it open. */
function keepAliveGet(agent: http.Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, timeout: 10_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", reject);
  });
}

/** A datagram socket that records what arrives, as systemd's would (test/fixtures/notify_listener.py). */
async function notifyListener(address: string): Promise<LineProcess> {
  const listener = new LineProcess(["python3", join(FIXTURES, "notify_listener.py"), address]);
  await listener.line("the listener to bind", (line) => line.listening === address);
  return listener;
}

function notifications(listener: LineProcess): Array<{ data: string; pid: number }> {
  return (listener.lines as Array<{ data?: string; pid: number }>)
    .filter((line) => typeof line.data === "string" && line.data !== "BARRIER=1") as Array<
      { data: string; pid: number }
    >;
}

/** The names of a notify datagram's fields, e.g. `READY STATUS MAINPID`. */
function fieldNames(data: string): string {
  return data.split("\n").map((line) => line.split("=")[0]).join(" ");
}

/**
 * Register the operations suite for one target.
 *
 * @param key A key of `TARGETS`.
 */
export function operationsSuite(key: keyof typeof TARGETS): void {
  const target: Target = TARGETS[key]();
  const runtime = key.startsWith("node") ? "node" : key;

  describe(`operating rota on ${target.name}`, { timeout: 240_000 }, () => {
    after(killLeftovers);
    // A private runtime directory per run: the default control socket lives there.
    const runtimeDir = scratch();
    const env = { XDG_RUNTIME_DIR: runtimeDir };

    /** Ask a health path until its answer names the phase "running" (bounded); the answers before it too. */
    const untilRunning = async (url: string) => {
      const before: Answer[] = [];
      const answer = await waitFor(`the phase running on ${new URL(url).pathname}`, async () => {
        const answer = await get(url);
        if (JSON.parse(answer.body).phase === "running") return answer;
        before.push(answer);
      }, 10_000);
      return { answer, before };
    };

    describe("health on the app port", () => {
      test("/_rota/ready answers 503 and /_rota/live 200 while every init fails, and neither reaches the app", async () => {
        const rota = await Rota.serve(target, "flaky.js", ["--workers", "2"], {
          env: { ...env, ROTA_TEST_FAIL_TIMES: "1000" },
          ready: /0 of 2 workers ready/,
        });
        // Workers answer the health paths with what the supervisor last told
        // them: the phase "running" may reach the worker that takes this
        // connection a moment after the log line. Every answer until then is
        // still "not ready".
        const { answer: ready, before } = await untilRunning(`${rota.url}/_rota/ready`);
        for (const answer of before) {
          assert.equal(answer.status, 503);
          assert.equal(JSON.parse(answer.body).ready, false);
        }
        assert.deepEqual(JSON.parse(ready.body), { ready: false, phase: "running", workersReady: 0 });
        assert.equal(ready.headers["cache-control"], "no-store");
        // The other worker may hear the phase a moment later: every answer on the way is live all the same.
        const { answer: live, before: livesBefore } = await untilRunning(`${rota.url}/_rota/live`);
        for (const answer of [...livesBefore, live]) {
          assert.equal(answer.status, 200);
          assert.equal(JSON.parse(answer.body).live, true);
        }
        assert.deepEqual(JSON.parse(live.body), { live: true, pid: rota.child.pid, phase: "running" });
        const app = await get(`${rota.url}/`);
        assert.equal(app.status, 503, "the app itself is still failing its init");
        assert.ok(app.headers["retry-after"]);
        assert.doesNotMatch(rota.log, /fetch threw/);
        assert.equal((await rota.stop()).code, 0);
      });

      test("/_rota/ready turns 200 once a worker is ready; --health-prefix moves the paths and off leaves them to the app", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "2", "--health-prefix", "/healthz"], { env });
        const ready = await get(`${rota.url}/healthz/ready`);
        assert.equal(ready.status, 200);
        assert.deepEqual(JSON.parse(ready.body), { ready: true, phase: "running", workersReady: 2 });
        assert.equal((await get(`${rota.url}/healthz/live?probe=1`)).status, 200);
        const moved = JSON.parse((await get(`${rota.url}/_rota/ready`)).body);
        assert.equal(moved.path, "/_rota/ready", "the default path now reaches the app");
        assert.equal((await rota.stop()).code, 0);

        const off = await Rota.serve(target, "hello.js", ["--workers", "1", "--health-prefix", "off"], { env });
        assert.equal(JSON.parse((await get(`${off.url}/_rota/ready`)).body).path, "/_rota/ready");
        assert.equal((await off.stop()).code, 0);
      });

      test("/_rota/live turns 503 while the supervisor is stopped (SIGSTOP) and 200 again once it runs", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "1"], { env });
        assert.equal((await get(`${rota.url}/_rota/live`)).status, 200);
        rota.signal("SIGSTOP");
        try {
          const silent = await waitFor(
            "a worker to notice its supervisor is silent",
            async () => {
              const answer = await get(`${rota.url}/_rota/live`);
              return answer.status === 503 ? JSON.parse(answer.body) : undefined;
            },
            15_000,
            250,
          );
          assert.equal(silent.live, false);
          assert.ok(silent.silentMs > 5000, `silent for ${silent.silentMs}ms`);
          assert.equal((await get(`${rota.url}/`)).status, 200, "the worker itself still serves");
        } finally {
          rota.signal("SIGCONT");
        }
        await waitFor("live again", async () => (await get(`${rota.url}/_rota/live`)).status === 200, 10_000, 100);
        assert.equal((await rota.stop()).code, 0);
      });
    });

    test("SIGTERM with --shutdown-delay: ready turns 503 at once, in-flight and new requests get 200 during the delay, then it drains and exits 0 within the grace", async () => {
      const rota = await Rota.serve(
        target,
        "hello.js",
        ["--workers", "2", "--shutdown-delay", "5s", "--graceful-timeout", "2s"],
        { env },
      );
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        assert.equal((await get(`${rota.url}/_rota/ready`)).status, 200);
        assert.equal((await keepAliveGet(agent, `${rota.url}/before`)).status, 200);
        const inFlight = get(`${rota.url}/slow?ms=1500`);
        await rota.waitForLog(/started worker 1\.0/);
        rota.signal("SIGTERM");
        const notReady = await waitFor(
          "readiness to turn 503",
          async () => {
            const answer = await get(`${rota.url}/_rota/ready`);
            return answer.status === 503 ? JSON.parse(answer.body) : undefined;
          },
          2000,
          10,
        );
        assert.deepEqual(notReady, { ready: false, phase: "stopping", workersReady: 2 });
        await rota.waitForLog(/serving 5000ms more \(--shutdown-delay\)/, 2000);
        // During the delay (until the first worker is told to drain): new
        // connections and the open keep-alive connection are served.
        let servedDuringDelay = 0;
        for (let i = 0; i < 5; i++) {
          if (/draining \(asked by the supervisor\)/.test(rota.log)) break;
          const fresh = await get(`${rota.url}/during-${i}`);
          const reused = await keepAliveGet(agent, `${rota.url}/during-${i}`);
          assert.equal(fresh.status, 200, "a new connection during the delay is served");
          assert.equal(reused.status, 200, "a keep-alive connection during the delay is served");
          assert.equal((await get(`${rota.url}/_rota/ready`)).status, 503, "and readiness stays 503");
          servedDuringDelay++;
        }
        assert.ok(servedDuringDelay > 0, "requests were sent during the delay");
        assert.equal((await inFlight).status, 200, "the request in flight at SIGTERM was answered");
        // Within the grace (delay + graceful timeout + kill grace), or the wait fails.
        const ended = await rota.ended(5000 + 2000 + 3000);
        assert.deepEqual(ended, { code: 0, signal: null }, rota.log);
        assert.match(rota.log, /draining \(asked by the supervisor\)/);
        const lines = rota.log.split("\n");
        const delayLine = lines.findIndex((line) => line.includes("serving 5000ms more"));
        const drainLine = lines.findIndex((line) => line.includes("draining (asked by the supervisor)"));
        assert.ok(delayLine >= 0 && drainLine > delayLine, `the drain followed the delay:\n${rota.log}`);
      } finally {
        agent.destroy();
      }
    });

    test("metrics: the admin listener serves the status page, status.json and Prometheus text whose values move with traffic", async () => {
      const rota = await Rota.serve(
        target,
        "hello.js",
        ["--workers", "2", "--admin", "0", "--max-requests", "40", "--max-requests-jitter", "0"],
        { env },
      );
      const url = await adminUrl(rota);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, "a port alone binds loopback");
      const page = await get(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(page.body, /<!doctype html>/);
      const first = await status(url);
      assert.equal(first.pid, rota.child.pid);
      assert.equal(first.runtime, runtime);
      assert.deepEqual(first.workers.map((w) => [w.slot, w.state, w.role]), [[0, "ready", "active"], [
        1,
        "ready",
        "active",
      ]]);
      assert.deepEqual(first.workers.map((w) => w.pid).sort(), rota.workerPids().sort());

      const before = await scrape(url);
      assert.equal(total(before, "rota_ready"), 1);
      assert.equal(total(before, "rota_workers", { state: "ready" }), 2);
      assert.equal(total(before, "rota_init_attempts_total", { result: "ok" }), 2);
      assert.equal(total(before, "rota_init_duration_seconds"), 2, "two init durations observed");
      assert.equal(total(before, "rota_info", { runtime }), 1);
      for (const name of ["process_resident_memory_bytes", "nodejs_heap_size_used_bytes"]) {
        const perWorker = samples(before, name);
        assert.equal(perWorker.length, 2, `${name} for each worker`);
        for (const metric of perWorker) {
          // Bun's heap of a small app can be ~100 kB; the resident set is always megabytes.
          const floor = name === "process_resident_memory_bytes" ? 1_000_000 : 10_000;
          assert.ok(Number(metric.value) > floor, `${name} ${metric.value}`);
          assert.ok(rota.workerPids().includes(Number(metric.labels?.pid)));
          assert.match(String(metric.labels?.worker), /^[01]\.0$/);
        }
      }
      await waitFor("an event loop lag for each worker", async () => {
        return samples(await scrape(url), "nodejs_eventloop_lag_seconds").length === 2;
      });
      const requestsBefore = total(before, "rota_worker_requests_total");
      const durationsBefore = total(before, "rota_request_duration_seconds");

      for (let i = 0; i < 30; i++) assert.equal((await get(`${rota.url}/m${i}`)).status, 200);
      const moved = await waitFor("the heartbeats to carry 30 more requests", async () => {
        const families = await scrape(url);
        return total(families, "rota_worker_requests_total") >= requestsBefore + 30 ? families : undefined;
      });
      assert.equal(total(moved, "rota_worker_requests_total"), requestsBefore + 30);
      assert.equal(total(moved, "rota_request_duration_seconds"), durationsBefore + 30);
      assert.equal(total(moved, "rota_recycles_total"), 0);

      // Past --max-requests 40 per worker: workers are recycled, replacement first
      // (the kernel spreads new connections unevenly, so send until two were).
      let sent = 30;
      let recycled: ParsedFamily[] = moved;
      while (total(recycled, "rota_replacements_total") < 2 && sent < 600) {
        for (let i = 0; i < 20; i++, sent++) assert.equal((await get(`${rota.url}/r${sent}`)).status, 200);
        recycled = await scrape(url);
      }
      recycled = await waitFor(
        "two replacements",
        async () => {
          const families = await scrape(url);
          return total(families, "rota_replacements_total") >= 2 ? families : undefined;
        },
        20_000,
        200,
      );
      assert.ok(total(recycled, "rota_recycles_total", { reason: "max-requests" }) >= 2);
      assert.ok(total(recycled, "rota_init_attempts_total", { result: "ok" }) >= 4);
      assert.equal(total(recycled, "rota_crashes_total"), 0);
      await waitFor("every answered request in the histogram, gone workers' included", async () => {
        return total(await scrape(url), "rota_request_duration_seconds") === durationsBefore + sent;
      });
      const after = await status(url);
      const kinds = after.events.map((event) => `${event.slot}.${event.generation} ${event.kind}`);
      for (const expected of ["0.0 spawned", "0.0 ready", "0.0 recycle", "0.1 spawned", "0.1 ready", "0.0 draining"]) {
        assert.ok(kinds.includes(expected), `the event ring has '${expected}': ${kinds}`);
      }
      assert.equal((await rota.stop()).code, 0);
    });

    test("metrics count failed init attempts, crashes and restarts", async () => {
      const rota = await Rota.serve(target, "flaky.js", ["--workers", "1", "--admin", "127.0.0.1:0"], {
        env: { ...env, ROTA_TEST_FAIL_TIMES: "2" },
        ready: /0 of 1 workers ready/,
      });
      const url = await adminUrl(rota);
      const recovered = await waitFor(
        "the worker to recover",
        async () => {
          const families = await scrape(url);
          return total(families, "rota_ready") === 1 ? families : undefined;
        },
        20_000,
        200,
      );
      assert.equal(total(recovered, "rota_init_attempts_total", { result: "failed" }), 2);
      assert.equal(total(recovered, "rota_init_attempts_total", { result: "ok" }), 1);
      const [pid] = rota.workerPids();
      process.kill(pid, "SIGKILL");
      const crashed = await waitFor(
        "the crash and the restart",
        async () => {
          const families = await scrape(url);
          return total(families, "rota_restarts_total") === 1 && total(families, "rota_ready") === 1
            ? families
            : undefined;
        },
        20_000,
        200,
      );
      assert.equal(total(crashed, "rota_crashes_total"), 1);
      const snapshot = await status(url);
      assert.equal(snapshot.workers[0].restarts, 1);
      assert.ok(snapshot.events.some((event) => event.kind === "crashed" && event.pid === pid));
      assert.equal((await rota.stop()).code, 0);
    });

    describe("the control socket", () => {
      test("rota status prints the table of a running rota, and --json its snapshot", async () => {
        const socket = join(scratch(), "rota.sock");
        const rota = await Rota.serve(target, "hello.js", ["--workers", "2", "--control-socket", socket], { env });
        const table = Rota.run(target, ["status", "--control-socket", socket]);
        assert.deepEqual(await table.ended(), { code: 0, signal: null }, table.log);
        const [summary, header, ...rows] = table.stdout.trimEnd().split("\n");
        assert.match(
          summary,
          new RegExp(`^rota \\S+ on ${runtime}, pid ${rota.child.pid}, http://127.0.0.1:${rota.port}`),
        );
        assert.match(header, /^worker +pid +state +role +uptime +requests +in flight +memory +restarts +init$/);
        assert.equal(rows.length, 2);
        for (const [i, row] of rows.entries()) {
          assert.match(row, new RegExp(`^${i}\\.0 +${rota.workerPids()[i]} +ready +active `));
        }
        const json = Rota.run(target, ["status", "--json", "--control-socket", socket]);
        assert.equal((await json.ended()).code, 0);
        assert.equal((JSON.parse(json.stdout) as RotaSnapshot).pid, rota.child.pid);
        assert.equal((await rota.stop()).code, 0);
      });

      test("rota reload replaces every worker and waits until it is done; rota stop stops it and waits for the exit", async () => {
        // The default path: $XDG_RUNTIME_DIR/rota/<port>.sock, found by --port.
        const rota = await Rota.serve(target, "hello.js", ["--workers", "2"], { env });
        const pids = rota.workerPids();
        const reload = Rota.run(target, ["reload", "--port", String(rota.port)], { env });
        assert.deepEqual(await reload.ended(60_000), { code: 0, signal: null }, reload.log);
        assert.match(reload.stderr, /rota: reloaded: every worker runs fresh code/);
        await rota.waitForLog(/rolling reload done/, 5000);
        const fresh = rota.workerPids().filter((pid) => !pids.includes(pid));
        assert.equal(fresh.length, 2, "two new workers");
        for (const pid of fresh) assert.match(reload.stdout, new RegExp(`\\b${pid} +ready +active`));
        const stop = Rota.run(target, ["stop", "--port", String(rota.port)], { env });
        assert.deepEqual(await stop.ended(30_000), { code: 0, signal: null }, stop.log);
        assert.match(stop.stderr, /rota: stopped/);
        // It had exited; the short wait is this test process collecting its exit status.
        assert.deepEqual(await rota.ended(2000), { code: 0, signal: null }, "rota had exited when rota stop returned");
      });

      test("rota stop while the rota starts stops it, and both exit 0", async () => {
        const socket = join(scratch(), "rota.sock");
        const port = await freePort();
        const rota = Rota.run(target, [
          "serve",
          "slow_flaky.js",
          "--port",
          String(port),
          "--workers",
          "1",
          "--control-socket",
          socket,
        ], { env: { ROTA_TEST_FAIL_TIMES: "0", ROTA_TEST_INIT_MS: "3000" } });
        await rota.waitForLog(/fixture: attempt 1 started/, 60_000);
        const stop = Rota.run(target, ["stop", "--control-socket", socket]);
        assert.deepEqual(await stop.ended(30_000), { code: 0, signal: null }, stop.log);
        assert.deepEqual(await rota.ended(), { code: 0, signal: null }, rota.log);
        assert.doesNotMatch(rota.log, /Stopped while starting/);
      });

      test("rota status, reload and stop say in one line that no rota runs there, and exit 1", async () => {
        const nowhere = join(scratch(), "nobody.sock");
        for (const command of ["status", "reload", "stop"]) {
          const client = Rota.run(target, [command, "--control-socket", nowhere]);
          assert.deepEqual(await client.ended(), { code: 1, signal: null });
          assert.equal(
            client.stderr,
            `rota: Cannot reach the rota at '${nowhere}': no rota is listening there (not running, or started with another --port or --control-socket?)\n`,
          );
          assert.equal(client.stdout, "");
        }
        const bad = Rota.run(target, ["status", "--workers", "2"]);
        assert.equal((await bad.ended()).code, 2);
        assert.match(bad.stderr, /^rota: Unknown flag '--workers' for 'rota status'/);
      });
    });

    test("systemd: READY=1 once started, RELOADING=1 and READY=1 around SIGHUP, WATCHDOG=1, STOPPING=1, from rota's pid", async () => {
      ensureDebianPackage("/usr/bin/systemd-notify", "systemd");
      const address = join(scratch(), "notify");
      const listener = await notifyListener(address);
      try {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "2"], {
          env: { ...env, NOTIFY_SOCKET: address, WATCHDOG_USEC: "1000000" },
        });
        const started = await waitFor("READY=1", () => notifications(listener).find((n) => /^READY=1/.test(n.data)));
        assert.match(
          started.data,
          new RegExp(
            `^READY=1\nSTATUS=2 of 2 workers ready, 0 requests, config v\\d+, 0 crashes\nMAINPID=${rota.child.pid}$`,
          ),
        );
        await waitFor("WATCHDOG=1", () => notifications(listener).some((n) => n.data === "WATCHDOG=1"), 5000);
        const pids = rota.workerPids();
        rota.signal("SIGHUP");
        await waitFor(
          "READY=1 after the reload",
          () => notifications(listener).filter((n) => /^READY=1/.test(n.data)).length === 2,
          30_000,
        );
        assert.equal(rota.workerPids().filter((pid) => !pids.includes(pid)).length, 2, "both workers were replaced");
        await rota.waitForLog(/rolling reload done/, 5000);
        rota.signal("SIGTERM");
        assert.equal((await rota.ended()).code, 0);
        await waitFor("STOPPING=1", () => notifications(listener).some((n) => /^STOPPING=1/.test(n.data)));
        const sequence = notifications(listener).filter((n) => n.data !== "WATCHDOG=1");
        assert.deepEqual(sequence.map((n) => fieldNames(n.data)), [
          "READY STATUS MAINPID",
          runtime === "node" ? "RELOADING STATUS MONOTONIC_USEC" : "RELOADING STATUS",
          "READY STATUS",
          "STOPPING STATUS",
        ]);
        assert.match(sequence[3].data, /^STOPPING=1\nSTATUS=stopping, 2 of 2 workers ready/);
        for (const n of notifications(listener)) assert.equal(n.pid, rota.child.pid, "sent with rota's credentials");
      } finally {
        listener.kill();
        await listener.exited;
      }
    });

    describe("logs", () => {
      test("JSON lines carry time, level, event, slot and pid; init failures log the stack, never the response", async () => {
        const rota = await Rota.serve(target, "flaky.js", ["--workers", "1"], {
          env: { ...env, ROTA_LOG_FORMAT: "json", ROTA_TEST_FAIL_TIMES: "1" },
          ready: /"msg":"0 of 1 workers ready"/,
        });
        const answer = await get(rota.url);
        assert.equal(answer.status, 503);
        assert.doesNotMatch(answer.body, /SECRET|postgres|at /);
        await waitFor("init to succeed", async () => (await get(rota.url)).status === 200, 20_000, 200);
        assert.equal((await rota.stop()).code, 0);
        const lines = rota.stderr.trim().split("\n").map((line) => JSON.parse(line));
        for (const line of lines) {
          assert.match(line.time, /^\d{4}-\d\d-\d\dT/);
          assert.ok(["info", "warn", "error"].includes(line.level));
          assert.equal(typeof line.event, "string");
          assert.ok("slot" in line && "pid" in line, JSON.stringify(line));
        }
        const worker = lines.find((line) => line.event === "worker.spawned").pid;
        const failed = lines.find((line) => line.event === "init.failed");
        assert.ok(failed, "an init.failed line");
        assert.equal(failed.pid, worker);
        assert.equal(failed.slot, 0);
        assert.match(failed.stack, /^Error: cannot reach database[^\n]*\n\s+at /, "the stack is logged");
        const events = new Set(lines.map((line) => line.event));
        for (
          const event of [
            "rota.starting",
            "worker.spawned",
            "worker.failing",
            "init.ok",
            "rota.stopping",
            "rota.stopped",
          ]
        ) {
          assert.ok(events.has(event), `${event} in ${[...events]}`);
        }
        const supervisorLine = lines.find((line) => line.event === "rota.starting");
        assert.deepEqual([supervisorLine.slot, supervisorLine.pid], [null, rota.child.pid]);
      });

      test("pretty lines are coloured on request (FORCE_COLOR) and name the worker's slot and pid", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "1"], {
          env: { ...env, NO_COLOR: "", FORCE_COLOR: "1" },
          ready: /workers? ready/,
        });
        assert.equal((await rota.stop()).code, 0);
        const [worker] = rota.workerPids();
        assert.match(rota.stderr, new RegExp(`\\x1b\\[36mrota\\[worker 0\\.0 #${worker}\\]\\x1b\\[0m init succeeded`));
        assert.match(rota.stderr, new RegExp(`\\x1b\\[36mrota\\[supervisor #${rota.child.pid}\\]`));
      });

      test("--access-log writes one common-log-format line per request on stdout, and none for the health paths", async () => {
        const rota = await Rota.serve(target, "hello.js", ["--workers", "1", "--access-log"], { env });
        assert.equal((await get(`${rota.url}/a?b=1`)).status, 200);
        assert.equal((await get(`${rota.url}/_rota/ready`)).status, 200);
        await waitFor("the access log line", () => /GET \/a\?b=1/.test(rota.stdout), 5000);
        assert.equal((await rota.stop()).code, 0);
        const lines = rota.stdout.trim().split("\n");
        assert.equal(lines.length, 1, rota.stdout);
        // Neither the client's address nor the size reaches the worker's request path yet: "-".
        assert.match(
          lines[0],
          /^- - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/a\?b=1 HTTP\/1\.1" 200 -$/,
        );
        const quiet = await Rota.serve(target, "hello.js", ["--workers", "1"], { env });
        assert.equal((await get(`${quiet.url}/a`)).status, 200);
        assert.equal((await quiet.stop()).code, 0);
        assert.equal(quiet.stdout, "", "off by default");
      });
    });
  });
}

before(() => void ensureDebianPackage("/usr/bin/systemd-notify", "systemd"));
