/**
 * Deno's operations host, through Deno's own API: the control socket
 * (`control.ts`), notifications over Deno's datagram socket when
 * `--unstable-net` allows it (`notify.ts`), other processes read from
 * `/proc`. The admin listener, which is opt-in, loads `node:http` (through
 * `@hono/node-server`, as on Node) when it starts.
 *
 * @module
 */

import type { OpsHost } from "../../runtime/ops/ops_host.ts";
import { runningPerStat } from "../_linux/proc_status.ts";
import { callControl, listenControl } from "./control.ts";
import { notifyDeno } from "./notify.ts";

/** The parts of the `Deno` global this file uses. */
interface DenoOpsApi {
  uid(): number | null;
  readTextFileSync(path: string): string;
}

const deno = (): DenoOpsApi => (globalThis as unknown as { Deno: DenoOpsApi }).Deno;

/** The supervisor's operations capabilities on Deno. */
export const denoOpsHost: OpsHost = {
  serveHttp: async (options) => (await import("../_node/admin.ts")).serveHttp(options),
  listenControl,
  callControl,
  notify: (state) => notifyDeno(state),
  uid: () => deno().uid() ?? 0,
  processAlive,
};

/**
 * Whether a process runs, from Linux's `/proc/<pid>/stat`: gone (no such
 * file) or a zombie is not; a file this process may not read (`hidepid`)
 * counts as running, as signal 0's `EPERM` does on Node.
 */
function processAlive(pid: number): boolean {
  try {
    return runningPerStat(deno().readTextFileSync(`/proc/${pid}/stat`));
  } catch (error) {
    return (error as { code?: string }).code !== "ENOENT";
  }
}
