/**
 * Bun without net.ipv4.tcp_migrate_req (issue 7, item 9): rota warns at start,
 * and a recycle may reset the few connections queued on the closing worker's
 * socket. Run for real in a network namespace of its own, as `nobody`; the
 * loss is measured and bounded here, and documented in the README.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { test } from "node:test";
import process from "node:process";
import { ROOT } from "../_harness.ts";

test("Bun as nobody in a fresh network namespace warns that it cannot set tcp_migrate_req, and a recycle resets at most a few queued connections", async (t) => {
  const node = process.execPath;
  const script = join(ROOT, "test", "behaviour", "_unprivileged_bun.ts");
  const child = spawn("unshare", ["--net", "--", "sh", "-c", `ip link set lo up && exec "${node}" "${script}"`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90000);
  const [code] = await once(child, "close");
  clearTimeout(timer);
  assert.equal(code, 0, err);
  const lines = out.trim().split("\n");
  const seen = JSON.parse(lines.at(-2)!);
  // At the full stop that ends the run: rota warns that it cannot refuse new handshakes exactly when the system
  // does not let this user attach the filter (this machine's kernel asks for CAP_NET_ADMIN).
  const { filter, refusalWarned } = JSON.parse(lines.at(-1)!);
  assert.match(filter, /^(attached|refused: .+)$/);
  assert.equal(refusalWarned, filter !== "attached", `the probe said ${filter}`);
  t.diagnostic(`SYN filter as nobody: ${filter}`);
  assert.equal(seen.warned, true, "rota said at start that it cannot set the sysctl");
  assert.ok(seen.replaced >= 6, `recycled ${seen.replaced} times under load`);
  assert.deepEqual(seen.bad, {}, "every answer that came was a 200");
  const lost = Object.values(seen.lost as Record<string, number>).reduce((a, b) => a + b, 0);
  const { ECONNRESET: reset = 0, ...other } = seen.lost;
  assert.deepEqual(other, {}, "the only loss is connections reset with the closing socket's queue");
  t.diagnostic(`${seen.sent} requests, ${seen.replaced} recycles, ${lost} reset (${reset})`);
  // The queue of the closing socket holds at most one connection per client connection.
  assert.ok(lost <= seen.replaced * 8, `${lost} lost over ${seen.replaced} recycles`);
});
