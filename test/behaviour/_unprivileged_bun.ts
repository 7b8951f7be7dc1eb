/**
 * Run inside a fresh network namespace (where net.ipv4.tcp_migrate_req is 0):
 * start rota on Bun as `nobody` (who cannot set the sysctl), recycle its one
 * worker under new-connection load, and print one JSON line of what the load
 * saw. test/behaviour/unprivileged.test.ts drives it through `unshare --net`.
 */

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import process from "node:process";
import { FIXTURES, freePort, load, ROOT, waitFor } from "../_harness.ts";
import { join } from "node:path";

const home = "/tmp/rota-nobody-home";
mkdirSync(home, { recursive: true, mode: 0o777 });
const port = await freePort();
const bun = join(ROOT, "node_modules", ".bin", "bun");
const child = spawn(
  "setpriv",
  [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    bun,
    join(ROOT, "main.ts"),
    "serve",
    "hello.js",
    "--port",
    String(port),
    "--workers",
    "2",
    "--max-requests",
    "300",
  ],
  {
    cwd: FIXTURES,
    env: {
      ...process.env,
      HOME: home,
      BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0",
      ROTA_LOG_FORMAT: "pretty",
      NO_COLOR: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  },
);
let log = "";
child.stdout.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
child.stderr.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
const exited = new Promise((resolve) => child.once("close", resolve));
try {
  await waitFor("rota to start", () => /2 of 2 workers ready/.test(log), 30000);
  const replaced = () => (log.match(/is ready and replaces worker/g) ?? []).length;
  const result = await load(`http://127.0.0.1:${port}/x`, {
    connections: 8,
    durationMs: 20000,
    maxRequests: 200000,
    keepAlive: false,
    done: () => replaced() >= 6,
  });
  const warned = /tcp_migrate_req is not 1 and rota cannot set it/.test(log);
  process.stdout.write(`${JSON.stringify({ warned, replaced: replaced(), ...result, pids: result.pids.size })}\n`);
} finally {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
  await exited;
  clearTimeout(timer);
}
// Whether the system lets this user refuse new handshakes at a full stop, and whether rota said so when it did not.
const probe = spawn("setpriv", [
  "--reuid=65534",
  "--regid=65534",
  "--clear-groups",
  bun,
  join(ROOT, "test", "behaviour", "_filter_probe.ts"),
], {
  env: { ...process.env, HOME: home, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
  stdio: ["ignore", "pipe", "inherit"],
});
let probed = "";
probe.stdout.setEncoding("utf8").on("data", (chunk: string) => (probed += chunk));
await new Promise((resolve) => probe.once("close", resolve));
const refusalWarned = /cannot refuse new handshakes/.test(log);
process.stdout.write(`${JSON.stringify({ filter: probed.trim(), refusalWarned })}\n`);
