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
import { runsPerProc } from "../_linux/proc_status.ts";
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
  // Linux lists every process in /proc, whoever runs it: gone (or a zombie) is not running.
  processAlive: (pid) => runsPerProc(pid, (path) => deno().readTextFileSync(path)) ?? false,
};
