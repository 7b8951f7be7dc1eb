/**
 * What a Deno rota takes from Deno's Node compatibility layer, loaded only
 * where it is needed: workers forked through `node:cluster` (with the socket
 * the supervisor owns when they serve through `node:http`), and their end of
 * `node:cluster`'s channel. A supervisor whose workers serve on `Deno.serve`
 * spawns them itself and never loads this module (see `../deno.ts`).
 *
 * @module
 */

import process from "node:process";
import type { Listener, ListenOptions, SpawnRequest, WorkerChannel, WorkerProcess } from "../../runtime/host.ts";
import { clusterChannel, clusterSpawn, workerServerLoaded } from "../_node/cluster.ts";
import { listenNodeHttp } from "../_node/http.ts";
import type { NodeBindings } from "../_node/websocket.ts";
import { refuseNewHandshakes } from "../_linux/listening_socket.ts";
import { denoProcFiles, openLibc } from "./libc.ts";

export { workerServerLoaded };

/** `Deno.NetAddr` of the client, read from the socket only when asked. */
class RemoteNetAddr {
  readonly transport = "tcp";
  #node: NodeBindings;

  constructor(node: NodeBindings) {
    this.#node = node;
  }

  get hostname(): string | undefined {
    return this.#node.incoming.socket.remoteAddress;
  }

  get port(): number | undefined {
    return this.#node.incoming.socket.remotePort;
  }
}

/** What `@hono/node-server` hands the app, and `remoteAddr` as `Deno.serve` would. */
function denoBindings(node: NodeBindings): object {
  return { incoming: node.incoming, outgoing: node.outgoing, remoteAddr: new RemoteNetAddr(node) };
}

/**
 * How the supervisor tells a forked worker to serve on `Deno.serve`: the
 * variable holds the supervisor's pid, so that a value in the supervisor's own
 * environment (which Deno's `node:cluster` lets win over what a fork is
 * given) is never taken for it.
 */
const NATIVE_VARIABLE = "ROTA_DENO_SERVE";

/**
 * Fork a worker through `node:cluster`.
 *
 * @param request What the supervisor asks.
 * @param native Whether it serves on `Deno.serve` rather than `node:http`.
 * @returns The supervisor's handle on it.
 */
export function forkWorker(request: SpawnRequest, native: boolean): WorkerProcess {
  return clusterSpawn(request, { [NATIVE_VARIABLE]: native ? String(process.pid) : "" });
}

/**
 * This process's channel when `node:cluster` forked it as a worker, and
 * whether it serves on `Deno.serve`.
 *
 * @returns `undefined` when this process is no such worker.
 */
export function forkedChannel(): { channel: WorkerChannel; native: boolean } | undefined {
  const native = process.env[NATIVE_VARIABLE] === String(process.ppid);
  delete process.env[NATIVE_VARIABLE];
  const channel = clusterChannel(!native);
  return channel && { channel, native };
}

/**
 * Serve through `node:http` on the supervisor's socket.
 *
 * @param options What to serve.
 * @returns The listener.
 */
export function listenForked(options: ListenOptions): Promise<Listener> {
  return listenNodeHttp(options, {
    bindings: denoBindings,
    // The socket is the supervisor's, shared: every worker at a full stop filters it (one filter), and the
    // last to close its handle leaves nothing queued. (Deno's node:cluster forks workers with -A: FFI is allowed.)
    refuseNewHandshakes: (port) => refuseNewHandshakes(openLibc(), denoProcFiles, port),
  });
}
