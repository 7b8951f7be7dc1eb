/**
 * Running small helper scripts (test/fixtures/*.ts, *.py) on a chosen
 * runtime and reading the JSON lines they print. Every wait is bounded;
 * processes are killed by pid.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { build } from "esbuild";
import { ROOT, systemNode, waitFor } from "./_harness.ts";

const BIN = join(ROOT, "node_modules", ".bin");

/** How to run a TypeScript script on one runtime. */
export interface ScriptRuntime {
  readonly name: string;
  /** The command for a script; Node 20 gets an esbuild bundle of it. */
  command(script: string): Promise<string[]>;
}

const bundled = new Map<string, Promise<string>>();

/** Bundle a script for Node 20, which cannot run `.ts` (once per script). */
function bundleForNode20(script: string): Promise<string> {
  let out = bundled.get(script);
  if (!out) {
    const file = join(mkdtempSync(join(tmpdir(), "rota-probe-")), "probe.mjs");
    out = build({
      entryPoints: [script],
      outfile: file,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      logLevel: "error",
    }).then(() => file);
    bundled.set(script, out);
  }
  return out;
}

/** The four runtimes rota supports, as script runners. */
export const SCRIPT_RUNTIMES: readonly ScriptRuntime[] = [
  { name: "node 24 (npm)", command: (script) => Promise.resolve([join(BIN, "node"), script]) },
  { name: "node (machine)", command: async (script) => [systemNode(), await bundleForNode20(script)] },
  { name: "bun", command: (script) => Promise.resolve([join(BIN, "bun"), script]) },
  { name: "deno", command: (script) => Promise.resolve([join(BIN, "deno"), "run", "-A", script]) },
];

/** A process that prints JSON lines. */
export class LineProcess {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(command: readonly string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}) {
    const [file, ...args] = command;
    this.child = spawn(file, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buffered = "";
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end).trim();
        buffered = buffered.slice(end + 1);
        if (!line) continue;
        try {
          this.lines.push(JSON.parse(line));
        } catch {
          this.lines.push({ text: line });
        }
      }
    });
    this.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((done) => this.child.once("close", (code, signal) => done({ code, signal })));
    started.add(this);
    void this.exited.then(() => started.delete(this));
  }

  /** Wait for a line that satisfies `match`. */
  async line(what: string, match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000) {
    let ended = false;
    void this.exited.then(() => (ended = true));
    return await waitFor(what, () => {
      const found = this.lines.find(match);
      if (!found && ended) {
        throw new Error(`process ended; stdout ${JSON.stringify(this.lines)}; stderr ${this.stderr}`);
      }
      return found;
    }, timeoutMs);
  }

  /** Wait for a line whose `step` is `step`. */
  step(step: string, timeoutMs?: number) {
    return this.line(`step ${step}`, (line) => line.step === step, timeoutMs);
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

const started = new Set<LineProcess>();

/** Kill, by pid, every helper still running (after a failed assertion). */
export async function killProbes(): Promise<void> {
  for (const probe of started) probe.kill("SIGKILL");
  await Promise.all([...started].map((probe) => probe.exited));
}
