/** PM2 for the comparison rows: installed on demand into bench/.tools, run with a private PM2_HOME. */

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, systemNode } from "../test/_harness.ts";

const TOOLS = join(ROOT, "bench", ".tools");
const PM2 = join(TOOLS, "node_modules", "pm2", "bin", "pm2");

/** Install pm2 from the npm registry when it is not there yet. */
export function ensurePm2(): void {
  if (existsSync(PM2)) return;
  console.error("pm2 is missing: installing it into bench/.tools");
  execFileSync("npm", [
    "install",
    "--prefix",
    TOOLS,
    "--no-save",
    "--no-package-lock",
    "--no-audit",
    "--no-fund",
    "pm2@7",
  ], {
    // npm's report goes to stderr: stdout carries the table only.
    stdio: ["ignore", 2, 2],
  });
}

/** A PM2 daemon of our own: `run` starts an app, `stop` kills that daemon only. */
export function privatePm2(): { run(args: string[], env?: Record<string, string>): string; stop(): void } {
  const home = mkdtempSync(join(tmpdir(), "rota-pm2-"));
  const pm2 = (args: string[], env: Record<string, string> = {}) =>
    execFileSync(systemNode(), [PM2, ...args], {
      env: { ...process.env, PM2_HOME: home, ...env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  return {
    run: pm2,
    stop() {
      try {
        pm2(["kill"]);
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
  };
}
