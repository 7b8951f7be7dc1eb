/**
 * The seed's worst case, measured: init takes 1000 ms, one worker (then two)
 * is recycled every 500 requests under wrk, 32 keep-alive connections, 20 s,
 * next to the same rota without recycling and the runtime's own server.
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
import { ensureWrk, wrk, type WrkResult } from "./_wrk.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const targets = (process.env.BENCH_TARGETS ?? "node-system,bun,deno").split(",");
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
  const child = spawn(command, args, { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"] });
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

function table(rows: Row[]): string {
  const head = "| runtime | setup | req/s | × no-recycle | errors | p50 ms | p99 ms | max ms | recycles | no worker ready (ms) |";
  const line = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|";
  const body = rows.map((r) => {
    const base = rows.find((b) => b.runtime === r.runtime && b.setup === r.setup.replace(", max-requests 500", ""));
    const ratio = base && base !== r ? (r.requestsPerSecond / base.requestsPerSecond).toFixed(2) : "";
    return `| ${r.runtime} | ${r.setup} | ${Math.round(r.requestsPerSecond)} | ${ratio} | ${r.errors} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(1)} | ${r.replacements} | ${r.noWorkerReadyMs} |`;
  });
  return [head, line, ...body].join("\n");
}

ensureWrk();
const rows: Row[] = [];
for (const key of targets) {
  const runtime = TARGETS[key]().name;
  rows.push({ runtime, setup: "own server, 1 process", ...(await ownServer(key)), replacements: "", noWorkerReadyMs: "" });
  for (const workers of [1, 2]) {
    for (const recycle of [false, true]) {
      const setup = `rota W=${workers}${recycle ? ", max-requests 500" : ""}`;
      console.error(`${runtime}: ${setup} ...`);
      rows.push({ runtime, setup, ...(await rotaRun(key, workers, recycle)) });
    }
  }
}
console.log(`\nwrk -t2 -c32 -d${seconds}s, keep-alive; init 1000 ms; ${new Date().toISOString()}\n`);
console.log(table(rows));
