/**
 * The seed's worst case, measured: init takes 1000 ms, one worker (then two)
 * is recycled every 500 requests under wrk, 32 keep-alive connections, 20 s,
 * next to the same rota without recycling, the runtime's own server, and PM2
 * (cluster mode; PM2 has no max-requests, so its app exits by itself after
 * 500 answers and PM2 restarts it; BENCH_PM2=0 leaves it out).
 *
 *   npm run bench:recycle                       # every runtime
 *   BENCH_TARGETS=bun BENCH_SECONDS=5 npm run bench:recycle
 *
 * Prints a markdown table. Not a test: nothing here passes or fails.
 */

import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { freePort, ROOT, Rota, TARGETS, waitFor } from "../test/_harness.ts";
import { ensurePm2, privatePm2 } from "./_pm2.ts";
import { ensureWrk, wrk, type WrkResult } from "./_wrk.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const targets = (process.env.BENCH_TARGETS ?? "node-system,bun,deno").split(",");
const withPm2 = process.env.BENCH_PM2 !== "0";
const APP = join(ROOT, "bench", "slow_init.js");

interface Row extends WrkResult {
  runtime: string;
  setup: string;
  replacements: number | string;
  noWorkerReadyMs: number | string;
}

async function ownServer(key: string): Promise<WrkResult> {
  const [command, ...args] = [...TARGETS[key]().script, join(ROOT, "bench", "own_server.js")];
  const port = await freePort();
  const child = spawn(command, args, {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    await waitFor("own server", () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok), 15000);
    return await wrk(`http://127.0.0.1:${port}/`, { connections: 32, seconds });
  } finally {
    child.kill("SIGKILL");
  }
}

async function rotaRun(key: string, workers: number, recycle: boolean): Promise<Omit<Row, "runtime" | "setup">> {
  const args = ["--workers", String(workers), "--log-format", "pretty", ...(recycle ? ["--max-requests", "500"] : [])];
  const rota = await Rota.serve(TARGETS[key](), APP, args);
  try {
    const result = await wrk(`${rota.url}/`, { connections: 32, seconds });
    await rota.stop();
    const stats = /shutting down gracefully \(replacements=(\d+) crashes=(\d+) noWorkerReadyMs=(\d+)\)/.exec(rota.log);
    return { ...result, replacements: stats?.[1] ?? "?", noWorkerReadyMs: stats?.[3] ?? "?" };
  } finally {
    await rota.stop();
  }
}

/** PM2 cluster mode on the machine's Node, the app leaving by itself after 500 answers. */
async function pm2Run(workers: number, recycle: boolean): Promise<Omit<Row, "runtime" | "setup">> {
  const port = await freePort();
  const pm2 = privatePm2();
  try {
    pm2.run(["start", join(ROOT, "bench", "pm2_app.cjs"), "-i", String(workers), "--name", "bench"], {
      PORT: String(port),
      MAX_REQUESTS: recycle ? "500" : "0",
    });
    await waitFor("pm2's app", () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok), 20000, 100);
    const result = await wrk(`http://127.0.0.1:${port}/`, { connections: 32, seconds });
    const list = JSON.parse(pm2.run(["jlist"])) as Array<{ pm2_env: { restart_time: number } }>;
    const restarts = list.reduce((sum, app) => sum + app.pm2_env.restart_time, 0);
    return { ...result, replacements: restarts, noWorkerReadyMs: "n/a" };
  } finally {
    pm2.stop();
  }
}

function table(rows: Row[]): string {
  const head =
    "| runtime | setup | req/s | × no-recycle | errors | p50 ms | p99 ms | max ms | recycles | no worker ready (ms) |";
  const line = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|";
  const body = rows.map((r) => {
    const base = rows.find((b) => b.runtime === r.runtime && b.setup === r.setup.replace(", max-requests 500", ""));
    const ratio = base && base !== r ? (r.requestsPerSecond / base.requestsPerSecond).toFixed(2) : "";
    return `| ${r.runtime} | ${r.setup} | ${Math.round(r.requestsPerSecond)} | ${ratio} | ${r.errors} | ${
      r.p50Ms.toFixed(2)
    } | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(1)} | ${r.replacements} | ${r.noWorkerReadyMs} |`;
  });
  return [head, line, ...body].join("\n");
}

ensureWrk();
if (withPm2) ensurePm2();
const rows: Row[] = [];
for (const key of targets) {
  const runtime = TARGETS[key]().name;
  rows.push({
    runtime,
    setup: "own server, 1 process",
    ...(await ownServer(key)),
    replacements: "",
    noWorkerReadyMs: "",
  });
  for (const workers of [1, 2]) {
    for (const recycle of [false, true]) {
      const setup = `rota W=${workers}${recycle ? ", max-requests 500" : ""}`;
      console.error(`${runtime}: ${setup} ...`);
      rows.push({ runtime, setup, ...(await rotaRun(key, workers, recycle)) });
    }
  }
}
if (withPm2) {
  for (const workers of [1, 2]) {
    for (const recycle of [false, true]) {
      const setup = `pm2 W=${workers}${recycle ? ", max-requests 500" : ""}`;
      console.error(`pm2: ${setup} ...`);
      rows.push({ runtime: "node (machine)", setup, ...(await pm2Run(workers, recycle)) });
    }
  }
}
console.log(`\nwrk -t2 -c32 -d${seconds}s, keep-alive; init 1000 ms; ${new Date().toISOString()}\n`);
console.log(table(rows));
