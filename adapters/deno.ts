/**
 * The Deno adapter: workers are Deno subprocesses started through Deno's
 * `node:cluster`, which (unlike what Deno's docs say) passes the listening
 * handle for real. The supervisor owns the socket, so a drain loses nothing;
 * `Deno.serve` with `reusePort` was measured to drop accepted connections on
 * shutdown even with `tcp_migrate_req=1` (RUNTIME-NOTES.md), which is why the
 * workers serve through `node:http` instead.
 *
 * Workers inherit the supervisor's permission flags; spawning them needs
 * `--allow-run` (or `-A`).
 *
 * An app finds on `env` what `@hono/node-server` gives (`incoming`,
 * `outgoing`) and what `Deno.serve` gives (`remoteAddr`, for `getConnInfo`
 * from `hono/deno`); `Deno.upgradeWebSocket` cannot work on a `node:http`
 * request, so WebSockets go the Node way (rota's `upgradeWebSocket`).
 *
 * @module
 */

import { RotaError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";
import { clusterChannel, clusterSpawn, workerServerLoaded } from "./_node/cluster.ts";
import { denoOpsHost } from "./_deno/ops.ts";
import { listenNodeHttp } from "./_node/http.ts";
import type { NodeBindings } from "./_node/websocket.ts";
import { importModule, probePort, processHost } from "./_node/process.ts";

interface DenoPermissions {
  permissions: { querySync(descriptor: { name: string }): { state: string } };
}

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

function requirePermissions(): void {
  const deno = (globalThis as unknown as { Deno: DenoPermissions }).Deno;
  const missing = ["run", "net", "read", "env"].filter((name) =>
    deno.permissions.querySync({ name }).state !== "granted"
  );
  if (missing.length > 0) {
    throw new RotaError(
      "ERR_ROTA_PERMISSION",
      `Cannot start workers as Deno lacks ${missing.map((m) => `--allow-${m}`).join(", ")}: run with -A`,
    );
  }
}

/** Deno as a rota host. */
export const host: Host = {
  ...processHost,
  runtime: "deno",
  importModule: (specifier) => importModule(specifier, { prepare: workerServerLoaded }),
  async prepare(options) {
    requirePermissions();
    await probePort(options.hostname, options.port);
    return [];
  },
  spawn: clusterSpawn,
  workerChannel: clusterChannel,
  listen: (options) => listenNodeHttp(options, { bindings: denoBindings }),
  ops: denoOpsHost,
};
