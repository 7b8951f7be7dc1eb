/**
 * What a TypeScript app costs at start-up, per process (the supervisor and
 * every worker import the app once each): `rota check` of the same app as
 * `.ts` and as `.js` (esbuild's output of it, beside it), on Node 20 (which
 * transpiles through rota's esbuild loader), Node 24 (which strips types
 * itself), Bun and Deno; then `rota serve --workers 2` until both workers are
 * ready.
 *
 *   npm run bench:typescript
 *   BENCH_RUNS=30 npm run bench:typescript
 *
 * Prints a markdown table of medians and minimums (the machine is shared). Not a test: nothing here passes or fails.
 */

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { transformSync } from "esbuild";
import { FIXTURES, ROOT, Rota, TARGETS } from "../test/_harness.ts";

const runs = Number(process.env.BENCH_RUNS ?? 15);
const targets = (process.env.BENCH_TARGETS ?? "node-system,node-npm,bun,deno").split(",");

// The app twice, inside the package so that "rota" resolves as it does for the fixtures.
const dir = join(ROOT, "bench", ".tools", "typescript");
mkdirSync(dir, { recursive: true });
for (const name of ["typed", "typed_greeting"]) {
  const source = readFileSync(join(FIXTURES, `${name}.ts`), "utf8");
  writeFileSync(join(dir, `${name}.ts`), source);
  const js = transformSync(source, { loader: "ts", format: "esm" }).code.replace(
    "./typed_greeting.ts",
    "./typed_greeting.js",
  );
  writeFileSync(join(dir, `${name}.js`), js);
}

function timed(command: readonly string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const [file, ...args] = command;
    const child = spawn(file, args, { cwd: dir, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`${command.join(" ")} exited ${code}`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function serveUntilReady(key: string, app: string): Promise<number> {
  const started = performance.now();
  const rota = await Rota.serve(TARGETS[key](), join(dir, app), ["--workers", "2"], { ready: /2 of 2 workers ready/ });
  const ms = performance.now() - started;
  await rota.stop();
  return ms;
}

const rows: string[] = [];
for (const key of targets) {
  const target = TARGETS[key]();
  const samples: Record<string, number[]> = { "check js": [], "check ts": [], "serve js": [], "serve ts": [] };
  // Interleaved, so that whatever else the machine does weighs on both alike.
  for (let i = 0; i < runs; i++) {
    for (const ext of ["js", "ts"]) {
      samples[`check ${ext}`].push(await timed([...target.command, "check", `typed.${ext}`]));
    }
  }
  for (let i = 0; i < Math.ceil(runs / 3); i++) {
    for (const ext of ["js", "ts"]) samples[`serve ${ext}`].push(await serveUntilReady(key, `typed.${ext}`));
  }
  const f = (n: number) => n.toFixed(0);
  const cell = (what: string) => `${f(median(samples[what]))} (${f(Math.min(...samples[what]))})`;
  const extra = (what: string) =>
    `+${f(median(samples[`${what} ts`]) - median(samples[`${what} js`]))} (+${
      f(Math.min(...samples[`${what} ts`]) - Math.min(...samples[`${what} js`]))
    })`;
  rows.push(
    `| ${target.name} | ${cell("check js")} | ${cell("check ts")} | ${extra("check")} | ${cell("serve js")} | ${
      cell("serve ts")
    } | ${extra("serve")} |`,
  );
}
console.log(
  `\n${runs} runs of check, ${Math.ceil(runs / 3)} of serve, interleaved; median (min) ms, ${
    new Date().toISOString()
  }\n`,
);
console.log(
  "| runtime | check .js | check .ts | TypeScript costs | serve W=2 until ready, .js | .ts | TypeScript costs |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|");
console.log(rows.join("\n"));
