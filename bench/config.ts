/**
 * Publish-to-all-acknowledged latency: W = 4 workers, one publish at a time
 * from a request handler, timed inside the worker from `publish()` to its
 * resolution (every worker applied the value and ran `reload`).
 *
 *   npm run bench:config
 *   BENCH_TARGETS=deno BENCH_PUBLISHES=200 npm run bench:config
 *
 * Prints a markdown table. Not a test: nothing here passes or fails.
 */

import process from "node:process";
import { Rota, TARGETS } from "../test/_harness.ts";

const publishes = Number(process.env.BENCH_PUBLISHES ?? 1000);
const targets = (process.env.BENCH_TARGETS ?? "node-system,node-npm,bun,deno").split(",");

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const rows: string[] = [];
for (const key of targets) {
  const target = TARGETS[key]();
  const rota = await Rota.serve(target, "config_app.js", ["--workers", "4"]);
  try {
    const inWorker: number[] = [];
    const roundTrip: number[] = [];
    for (let i = 0; i < publishes; i++) {
      const started = performance.now();
      const response = await fetch(`${rota.url}/config`, { method: "POST", body: JSON.stringify({ value: { n: i } }) });
      const body = await response.json();
      roundTrip.push(performance.now() - started);
      if (!body.ok || body.failed.length > 0) throw new Error(`publish ${i} failed: ${JSON.stringify(body)}`);
      inWorker.push(body.ms);
    }
    inWorker.sort((a, b) => a - b);
    roundTrip.sort((a, b) => a - b);
    const f = (n: number) => n.toFixed(2);
    rows.push(
      `| ${target.name} | ${publishes} | ${f(percentile(inWorker, 50))} | ${f(percentile(inWorker, 99))} | ${
        f(inWorker.at(-1)!)
      } | ${f(percentile(roundTrip, 50))} | ${f(percentile(roundTrip, 99))} |`,
    );
  } finally {
    await rota.stop();
  }
}
console.log(`\nW = 4, publishes one at a time, ${new Date().toISOString()}\n`);
console.log("| runtime | publishes | p50 ms | p99 ms | max ms | HTTP round trip p50 ms | p99 ms |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
console.log(rows.join("\n"));
