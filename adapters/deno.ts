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
 *   compatibility layer, and neither does the supervisor (`_deno/process_host.ts`,
 *   `_deno/ops.ts`: its control socket, signals and files through Deno's own
 *   API; only `--admin` loads `node:http`). (Not when rota runs from Deno's
 *   global npm cache, `deno run npm:rota` without a `node_modules` directory:
 *   how a worker resolves rota's imports there without the npm state Deno's
 *   `fork` passes a child could not be tried on this machine, so
 *   `node:cluster` starts it, as it starts `node:http` workers; nor when the
 *   supervisor cannot make a socket for the channel, a private directory under
 *   `$XDG_RUNTIME_DIR` or `/tmp`: tried before any worker starts, and should
 *   it fail later, the workers after that spawn are forked.)
 * - **`node:http` on a socket the supervisor owns**, which Deno's
 *   `node:cluster` passes for real (unlike what Deno's docs say), otherwise: a
 *   drain loses nothing with no flag and no sysctl. The app finds what
 *   `@hono/node-server` gives (`incoming`, `outgoing`) and `remoteAddr`.
 *
 * WebSockets work either way through rota's `upgradeWebSocket`.
 *
 * @module
 */

import { RotaError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";
import { SPEC_VARIABLE } from "../runtime/protocol.ts";
import { ensureConnectionMigration } from "./_linux/connection_migration.ts";
import { denoOpsHost } from "./_deno/ops.ts";
import { denoModuleFiles, denoProcessHost, denoSysctlFiles, probePort } from "./_deno/process_host.ts";
import { listenDenoServe } from "./_deno/serve.ts";
import { nativeServing, NOT_ASKED } from "./_deno/server_choice.ts";
import { canMakeChannels, spawnDenoWorker } from "./_deno/spawn.ts";
import { entryPath } from "./entry.ts";
import { importAppModule } from "./import_module.ts";

interface DenoPermissions {
  permissions: { querySync(descriptor: { name: string }): { state: string } };
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

type NodeLayer = typeof import("./_deno/node_layer.ts");

/** Deno's Node layer (`_deno/node_layer.ts`), once a forked worker or a supervisor that forks loaded it. */
let nodeLayer: NodeLayer | undefined;

async function loadNodeLayer(): Promise<NodeLayer> {
  return nodeLayer ??= await import("./_deno/node_layer.ts");
}

function loadedNodeLayer(): NodeLayer {
  if (!nodeLayer) throw new Error("Deno's Node layer is used before it was loaded");
  return nodeLayer;
}

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
  ...denoProcessHost,
  runtime: "deno",
  importModule: (specifier) =>
    // A forked worker imports its app once its server module loaded (see `workerServerLoaded`).
    importAppModule(specifier, denoModuleFiles, nodeLayer ? { prepare: nodeLayer.workerServerLoaded } : {}),
  async prepare(options) {
    requirePermissions();
    await probePort(options.hostname, options.port);
    const why = nativeServing(() => ensureConnectionMigration(denoSysctlFiles));
    native = why === undefined;
    spawnsItself = native && runsOnItsOwn(entryPath()) && canMakeChannels();
    if (!spawnsItself) await loadNodeLayer();
    // Without --unstable-net the fast path was not asked for: node:http, silently (the README says how).
    return native || why === NOT_ASKED ? [] : [`Deno workers serve through node:http, not Deno.serve, as ${why}`];
  },
  spawn(request) {
    if (!spawnsItself) return loadedNodeLayer().forkWorker(request, native);
    try {
      return spawnDenoWorker(request, entryPath(), {});
    } catch (error) {
      // The channel's socket cannot be made any more (its directory went away, the disk is full): node:cluster
      // starts the workers from now on, once Deno's Node layer has loaded; this spawn fails (and is retried).
      if (nodeLayer) return nodeLayer.forkWorker(request, native);
      void loadNodeLayer().catch(() => {});
      throw error;
    }
  },
  workerChannel() {
    // A supervisor never loads the Node layer for this: a forked worker did in `loadDenoHost`.
    const forked = nodeLayer?.forkedChannel();
    native = forked?.native ?? false;
    return forked?.channel;
  },
  listen: (options) => native ? listenDenoServe(options) : loadedNodeLayer().listenForked(options),
  ops: denoOpsHost,
};

/**
 * Deno as a rota host, with Deno's Node layer loaded first in a worker that
 * Deno's `node:cluster` forked (it finds a spec in its environment, and no
 * channel of rota's own: those workers run `_deno/worker_main.ts`).
 *
 * @returns {@linkcode host}.
 */
export async function loadDenoHost(): Promise<Host> {
  const deno = (globalThis as unknown as { Deno: { env: { get(name: string): string | undefined } } }).Deno;
  if (deno.env.get(SPEC_VARIABLE) !== undefined) await loadNodeLayer();
  return host;
}
