/**
 * The operations host of Node and Bun: the admin listener, the control socket
 * and `systemd-notify` through `node:` modules. (Deno's, `_deno/ops.ts`, uses
 * Deno's own API, and loads `admin.ts` and `notify.ts` from here on demand.)
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import type { OpsHost } from "../../runtime/ops/ops_host.ts";
import { serveHttp } from "./admin.ts";
import { callControl, listenControl } from "./control.ts";
import { notifySystemd } from "./notify.ts";
import { runningPerStat } from "../_linux/proc_status.ts";

/** The supervisor's operations capabilities. */
export const opsHost: OpsHost = {
  serveHttp,
  listenControl,
  callControl,
  notify: (state) => notifySystemd(state),
  uid: () => process.getuid?.() ?? 0,
  processAlive,
};

/**
 * Whether a process runs: signal 0 reaches it, and Linux does not list it as a
 * zombie (exited, its parent has not collected it yet).
 *
 * @param pid The process.
 * @returns False once it has exited.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it runs, as someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return runningPerStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

/**
 * `CLOCK_MONOTONIC` in microseconds, on Node, whose `hrtime` reads that
 * clock (libuv's `uv_hrtime`); Bun's and Deno's count from their own start.
 *
 * @returns Microseconds.
 */
export function nodeMonotonicMicros(): bigint {
  return process.hrtime.bigint() / 1000n;
}
