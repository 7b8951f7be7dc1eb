/**
 * What operations cost and how fast they answer, per runtime (issue 12):
 *
 * - readiness: `--shutdown-delay 2s`; a client asks `/_rota/ready` on one
 *   keep-alive connection as fast as it answers; SIGTERM; how long until the
 *   first 503 (the signal reaches the supervisor, which tells every worker).
 *   BENCH_RUNS (5) runs.
 * - liveness: the supervisor is SIGSTOPped; how long until `/_rota/live`
 *   answers 503 (polled every 100 ms) from a worker.
 * - throughput: `wrk -t2 -c32 -d5s` keep-alive on `/` of a one-worker rota,
 *   as it serves by default (health paths on, request metrics), with
 *   `--health-prefix off`, and with `--access-log` (stdout to /dev/null); the
 *   three alternate, BENCH_RUNS rounds, median and best reported.
 *
 *   node bench/operations.ts
 *   BENCH_TARGETS=bun BENCH_SCENARIOS=throughput node bench/operations.ts
 *
 * Prints markdown tables. Not a test: nothing here passes or fails.
 */

import http from "node:http";
import process from "node:process";
import { get, Rota, type Target, TARGETS } from "../test/_harness.ts";
import { ensureWrk, wrk } from "./_wrk.ts";

const targets = (process.env.BENCH_TARGETS ?? "node-system,node-npm,bun,deno").split(",");
const scenarios = (process.env.BENCH_SCENARIOS ?? "readiness,liveness,throughput").split(",");
const runs = Number(process.env.BENCH_RUNS ?? 5);

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];

function keepAlive(agent: http.Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
    }).on("error", reject);
  });
}

async function readiness(target: Target): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const rota = await Rota.serve(target, "hello.js", ["--workers", "2", "--shutdown-delay", "2s"]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await keepAlive(agent, `${rota.url}/_rota/ready`);
    const signalled = performance.now();
    rota.signal("SIGTERM");
    while (await keepAlive(agent, `${rota.url}/_rota/ready`) === 200) {
      if (performance.now() - signalled > 5000) throw new Error("readiness never turned 503");
    }
    times.push(performance.now() - signalled);
    agent.destroy();
    await rota.ended(15_000);
  }
  return times;
}

async function liveness(target: Target): Promise<number> {
  const rota = await Rota.serve(target, "hello.js", ["--workers", "1"]);
  const stopped = performance.now();
  rota.signal("SIGSTOP");
  try {
    while ((await get(`${rota.url}/_rota/live`)).status === 200) {
      if (performance.now() - stopped > 20_000) throw new Error("liveness never turned 503");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return performance.now() - stopped;
  } finally {
    rota.signal("SIGCONT");
    await rota.stop();
  }
}

const VARIANTS: Array<[string, string[]]> = [
  ["default (health paths, request metrics)", []],
  ["--health-prefix off", ["--health-prefix", "off"]],
  ["--access-log (to /dev/null)", ["--access-log", "common"]],
];

async function throughput(target: Target): Promise<Map<string, number[]>> {
  const results = new Map<string, number[]>(VARIANTS.map(([name]) => [name, []]));
  for (let run = 0; run < runs; run++) {
    for (const [name, flags] of VARIANTS) {
      const rota = await Rota.serve(target, "hello.js", ["--workers", "1", ...flags]);
      // Standard output is a pipe the harness reads; drop it so the access log costs only its writes.
      rota.child.stdout?.removeAllListeners("data");
      rota.child.stdout?.resume();
      await get(`${rota.url}/`);
      const result = await wrk(`${rota.url}/`, { connections: 32, seconds: 5 });
      results.get(name)!.push(result.requestsPerSecond);
      await rota.stop();
    }
  }
  return results;
}

if (scenarios.includes("throughput")) ensureWrk();
const rows: string[] = [];
for (const key of targets) {
  const target = TARGETS[key]();
  if (scenarios.includes("readiness")) {
    const times = await readiness(target);
    rows.push(
      `| ${target.name} | SIGTERM → first 503 on /_rota/ready | median ${median(times).toFixed(1)} ms, max ${
        Math.max(...times).toFixed(1)
      } ms (${runs} runs) |`,
    );
  }
  if (scenarios.includes("liveness")) {
    rows.push(`| ${target.name} | SIGSTOP → first 503 on /_rota/live | ${(await liveness(target)).toFixed(0)} ms |`);
  }
  if (scenarios.includes("throughput")) {
    for (const [name, values] of await throughput(target)) {
      rows.push(
        `| ${target.name} | ${name}, W=1, wrk -c32 5 s | median ${Math.round(median(values))} req/s, best ${
          Math.round(Math.max(...values))
        } |`,
      );
    }
  }
  console.error(`done: ${target.name}`);
}
console.log("| runtime | what | measured |\n| --- | --- | --- |");
console.log(rows.join("\n"));
process.exit(0);
