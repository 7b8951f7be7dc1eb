/**
 * The operations host every adapter shares: Node, Bun and Deno all run the
 * admin listener, the control socket and `systemd-notify` through `node:`
 * modules.
 *
 * @module
 */

import process from "node:process";
import type { OpsHost } from "../../runtime/ops/ops_host.ts";
import { serveHttp } from "./admin.ts";
import { callControl, listenControl } from "./control.ts";
import { notifySystemd } from "./notify.ts";

/** The supervisor's operations capabilities. */
export const opsHost: OpsHost = {
  serveHttp,
  listenControl,
  callControl,
  notify: (state) => notifySystemd(state),
  uid: () => process.getuid?.() ?? 0,
};

/**
 * `CLOCK_MONOTONIC` in microseconds, on Node, whose `hrtime` reads that
 * clock (libuv's `uv_hrtime`); Bun's and Deno's count from their own start.
 *
 * @returns Microseconds.
 */
export function nodeMonotonicMicros(): bigint {
  return process.hrtime.bigint() / 1000n;
}
