/**
 * The Deno adapter: workers are Deno subprocesses started through Deno's
 * `node:cluster`, which runs them with `-A` whatever the supervisor's
 * permissions, and with its unstable flags (spawning them needs
 * `--allow-run`, or `-A`). They serve in one of
 * two ways, chosen once by the supervisor before any worker starts:
 *
 * - **`Deno.serve`, each on its own `SO_REUSEPORT` socket** (`_deno/serve.ts`),
 *   when Deno runs with `--unstable-net` and `--allow-ffi` and
 *   `net.ipv4.tcp_migrate_req` is 1 (rota sets it when it may): about twice
 *   the throughput at half the memory. The app finds `remoteAddr` on
 *   `env` as `Deno.serve` gives it (`getConnInfo` from `hono/deno`). These
 *   workers need no shared socket, so the supervisor spawns them itself, with
 *   a channel of rota's own (`_deno/spawn.ts`): they never load Deno's Node
 *   compatibility layer. (Not when rota runs from Deno's global npm cache,
 *   `deno run npm:rota` without a `node_modules` directory: how a worker
 *   resolves rota's imports there without the npm state Deno's `fork` passes
 *   a child could not be tried on this machine, so `node:cluster` starts it,
 *   as it starts `node:http` workers.)
 * - **`node:http` on a socket the supervisor owns**, which Deno's
 *   `node:cluster` passes for real (unlike what Deno's docs say), otherwise: a
 *   drain loses nothing with no flag and no sysctl. The app finds what
 *   `@hono/node-server` gives (`incoming`, `outgoing`) and `remoteAddr`.
 *
 * WebSockets work either way through rota's `upgradeWebSocket`.
 *
 * @module
 */

import process from "node:process";
import { RotaError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";
import { clusterChannel, clusterSpawn, workerServerLoaded } from "./_node/cluster.ts";
import { denoOpsHost } from "./_deno/ops.ts";
import { listenNodeHttp } from "./_node/http.ts";
import type { NodeBindings } from "./_node/websocket.ts";
import { importModule, probePort, processHost } from "./_node/process.ts";
import { ensureConnectionMigration } from "./_node/connection_migration.ts";
import { listenDenoServe } from "./_deno/serve.ts";
import { nativeServing, NOT_ASKED } from "./_deno/server_choice.ts";
import { spawnDenoWorker } from "./_deno/spawn.ts";
import { entryPath } from "./_node/entry.ts";
import { refuseNewHandshakes } from "./_linux/listening_socket.ts";
import { denoProcFiles, openLibc } from "./_deno/libc.ts";

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

/**
 * How the supervisor tells a worker to serve on `Deno.serve`: the variable
 * holds the supervisor's pid, so that a value in the supervisor's own
 * environment (which Deno's `node:cluster` lets win over what a fork is
 * given) is never taken for it.
 */
const NATIVE_VARIABLE = "ROTA_DENO_SERVE";

/** Whether this process's workers (or, in a worker, this worker) serve on `Deno.serve`. */
let native = false;
/** Whether this supervisor starts its workers itself rather than through `node:cluster` (see the module doc). */
let spawnsItself = false;

/**
 * Whether a worker can run as `deno run <entry>` with nothing from its
 * supervisor but its environment: rota's sources (their `deno.json` resolves
 * their imports) or a package in a `node_modules` directory (tested both).
 * Not a package in Deno's global npm cache, whose imports Deno resolves with
 * npm state that its `fork` passes a child and a spawn does not (untried:
 * this machine reaches no registry).
 *
 * @param entry rota's program.
 * @returns Whether the supervisor may spawn it itself.
 */
export function runsOnItsOwn(entry: string): boolean {
  return entry.endsWith("/main.ts") || entry.includes("/node_modules/");
}

/** Deno as a rota host. */
export const host: Host = {
  ...processHost,
  runtime: "deno",
  importModule: (specifier) => importModule(specifier, { prepare: workerServerLoaded }),
  async prepare(options) {
    requirePermissions();
    await probePort(options.hostname, options.port);
    const why = nativeServing(ensureConnectionMigration);
    native = why === undefined;
    // Serving on Deno.serve takes -A (Deno reads /proc/sys only with it): the channel's directory can be made.
    spawnsItself = native && runsOnItsOwn(entryPath());
    // Without --unstable-net the fast path was not asked for: node:http, silently (the README says how).
    return native || why === NOT_ASKED ? [] : [`Deno workers serve through node:http, not Deno.serve, as ${why}`];
  },
  spawn(request) {
    if (spawnsItself) {
      try {
        return spawnDenoWorker(request, entryPath(), {});
      } catch {
        // No room for the channel's socket (say, a read-only /tmp): node:cluster starts it, as before.
      }
    }
    return clusterSpawn(request, { [NATIVE_VARIABLE]: native ? String(process.pid) : "" });
  },
  workerChannel() {
    native = process.env[NATIVE_VARIABLE] === String(process.ppid);
    delete process.env[NATIVE_VARIABLE];
    return clusterChannel(!native);
  },
  listen: (options) =>
    native ? listenDenoServe(options) : listenNodeHttp(options, {
      bindings: denoBindings,
      // The socket is the supervisor's, shared: every worker at a full stop filters it (one filter), and the
      // last to close its handle leaves nothing queued. (Deno's node:cluster forks workers with -A: FFI is allowed.)
      refuseNewHandshakes: (port) => refuseNewHandshakes(openLibc(), denoProcFiles, port),
    }),
  ops: denoOpsHost,
};
