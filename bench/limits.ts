/**
 * What a wedged worker, a growing worker and a huge body cost, per runtime
 * (issue 11 items 5, 7 and 8). Runs against whatever rota this checkout holds:
 * flags it does not know (an older rota) are left out, so the same script
 * gives the before and after figures.
 *
 *   node bench/limits.ts                          # every runtime, every scenario
 *   BENCH_TARGETS=bun BENCH_SCENARIOS=wedge node bench/limits.ts
 *
 * - wedge: two workers, the tests' new-connection load (8 connections); one
 *   worker is wedged (a handler that spins forever); the load runs on for
 *   BENCH_WEDGE_SECONDS (12) and every request is timed (10 s client timeout).
 * - memory: one worker, `--max-memory 150MB`, keep-alive load on `/` while
 *   `/grow?mb=10` is called 40 times, BENCH_GROW_PAUSE_MS (250) apart (400 MB
 *   kept in all, 40 MB/s); the bench samples every worker's RSS from /proc
 *   every 20 ms.
 * - body: a 1 GiB body, chunked, then one declaring 1 GiB, POSTed to a route
 *   that reads it; peak RSS of the worker and how the request ended.
 *
 * Prints markdown tables. Not a test: nothing here passes or fails.
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import process from "node:process";
import { get, load, type LoadSample, ROOT, Rota, type Target, TARGETS } from "../test/_harness.ts";

const targets = (process.env.BENCH_TARGETS ?? "node-system,bun,deno").split(",");
const scenarios = (process.env.BENCH_SCENARIOS ?? "wedge,memory,body").split(",");
const wedgeSeconds = Number(process.env.BENCH_WEDGE_SECONDS ?? 12);
const growPauseMs = Number(process.env.BENCH_GROW_PAUSE_MS ?? 250);
const APP = join(ROOT, "test", "fixtures", "hostile.js");
const MB = 2 ** 20;

function knows(target: Target, flag: string): boolean {
  const [command, ...args] = target.command;
  return execFileSync(command, [...args, "--help"], { encoding: "utf8" }).includes(flag);
}

function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Sample the RSS of every worker the rota started, every 20 ms, until stopped. */
function sampleRss(rota: Rota): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    for (const pid of rota.workerPids()) peak = Math.max(peak, rssOf(pid));
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

async function wedge(key: string): Promise<string> {
  const target = TARGETS[key]();
  const watchdog = knows(target, "--watchdog-timeout") ? ["--watchdog-timeout", "2s"] : [];
  const rota = await Rota.serve(target, APP, ["--workers", "2", ...watchdog]);
  try {
    const samples: LoadSample[] = [];
    const loading = load(`${rota.url}/`, {
      connections: 8,
      durationMs: 1000 + wedgeSeconds * 1000,
      maxRequests: 10_000_000,
      keepAlive: false,
      samples,
    });
    await new Promise((r) => setTimeout(r, 1000));
    const wedgedAt = Date.now();
    void get(`${rota.url}/spin`, 60000).catch(() => {});
    const result = await loading;
    const after = samples.filter((s) => s.at >= wedgedAt);
    const hit = after.filter((s) => !s.ok || s.ms > 1000);
    const window = hit.length ? Math.max(...hit.map((s) => s.at + s.ms)) - Math.min(...hit.map((s) => s.at)) : 0;
    const secs = wedgeSeconds;
    const rate = Math.round(after.filter((s) => s.ok).length / secs);
    const before = samples.filter((s) => s.at < wedgedAt && s.ok).length;
    const killed = /sent no heartbeat for (\d+)ms/.exec(rota.log)?.[1] ?? "never";
    return `| ${target.name} | ${watchdog.length ? "2s" : "none"} | ${before} | ${rate} | ${
      after.filter((s) => !s.ok).length
    } | ${hit.filter((s) => s.ok).length} | ${window} | ${Math.max(0, ...after.map((s) => s.ms))} | ${killed} | ${
      JSON.stringify(result.lost)
    } |`;
  } finally {
    await rota.stop();
  }
}

async function memory(key: string): Promise<string> {
  const target = TARGETS[key]();
  const rota = await Rota.serve(target, APP, ["--workers", "1", "--max-memory", "150MB"]);
  try {
    const sampler = sampleRss(rota);
    let stop = false;
    const loading = load(`${rota.url}/`, {
      connections: 4,
      durationMs: 120_000,
      maxRequests: 10_000_000,
      keepAlive: true,
      done: () => stop,
    });
    let growFailed = 0;
    for (let i = 0; i < 40; i++) {
      const answer = await get(`${rota.url}/grow?mb=10`, 30000).catch(() => undefined);
      if (answer?.status !== 200) growFailed++;
      await new Promise((r) => setTimeout(r, growPauseMs));
    }
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    const result = await loading;
    const peak = sampler.stop();
    const lost = Object.values(result.lost).reduce((a, b) => a + b, 0) +
      Object.values(result.bad).reduce((a, b) => a + b, 0);
    const oom = (rota.log.match(/heap out of memory|exited unexpectedly/g) ?? []).length;
    const recycles = (rota.log.match(/is ready and replaces|above the hard limit/g) ?? []).length;
    return `| ${target.name} | ${
      Math.round(peak / MB)
    } | ${recycles} | ${oom} | ${growFailed} | ${lost} of ${result.sent} |`;
  } finally {
    await rota.stop();
  }
}

function post(url: string, bytes: number, chunked: boolean): Promise<string> {
  return new Promise((done) => {
    const started = Date.now();
    const headers: Record<string, string> = chunked
      ? { "transfer-encoding": "chunked" }
      : { "content-length": String(bytes) };
    const request = http.request(url, { method: "POST", agent: false, headers, timeout: 120_000 }, (response) => {
      response.resume();
      response.on("end", () => done(`${response.statusCode} after ${Date.now() - started} ms`));
    });
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on(
      "error",
      (error: NodeJS.ErrnoException) => done(`${error.code ?? error.message} after ${Date.now() - started} ms`),
    );
    const chunk = Buffer.alloc(MB, 97);
    let sent = 0;
    const more = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!request.write(chunk)) return void request.once("drain", more);
      }
      request.end();
    };
    more();
  });
}

async function body(key: string): Promise<string[]> {
  const target = TARGETS[key]();
  const rows: string[] = [];
  for (const chunked of [true, false]) {
    const rota = await Rota.serve(target, APP, ["--workers", "1"]);
    try {
      const sampler = sampleRss(rota);
      const outcome = await post(`${rota.url}/body`, 1024 * MB, chunked);
      await new Promise((r) => setTimeout(r, 500));
      const peak = sampler.stop();
      rows.push(
        `| ${target.name} | ${chunked ? "chunked" : "Content-Length"} | ${outcome} | ${Math.round(peak / MB)} |`,
      );
    } finally {
      await rota.stop();
    }
  }
  return rows;
}

if (scenarios.includes("wedge")) {
  console.log(
    `\n### One wedged worker of two, new-connection load (8 connections), ${wedgeSeconds} s after the wedge\n`,
  );
  console.log(
    "| runtime | watchdog | answered in the 1 s before | req/s after | failed | slower than 1 s | outage window ms | worst ms | killed after ms | lost |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const key of targets) console.log(await wedge(key));
}
if (scenarios.includes("memory")) {
  console.log(`\n### --max-memory 150MB, 40 × /grow?mb=10 (${growPauseMs} ms apart) under keep-alive load\n`);
  console.log("| runtime | peak worker RSS MB | recycles | worker deaths | /grow failed | lost |");
  console.log("| --- | ---: | ---: | ---: | ---: | --- |");
  for (const key of targets) console.log(await memory(key));
}
if (scenarios.includes("body")) {
  console.log("\n### A 1 GiB body POSTed to a route that reads it (default --max-body)\n");
  console.log("| runtime | framing | answer | peak worker RSS MB |");
  console.log("| --- | --- | --- | ---: |");
  for (const key of targets) for (const row of await body(key)) console.log(row);
}
process.exit(0);
