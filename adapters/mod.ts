/**
 * The edge: the one place that looks at which runtime this is, and picks its
 * adapter. Everything behind it takes a `Host`.
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runCli } from "../runtime/cli.ts";
import { describeError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";
import type { ServeOptions } from "../runtime/options.ts";
import { type Server, startServer } from "../runtime/server.ts";
import { runWorker } from "../runtime/worker/worker.ts";
import { host as bunHost } from "./bun.ts";
import { host as denoHost } from "./deno.ts";
import { host as nodeHost } from "./node.ts";

/**
 * The host for the runtime this code runs on. Deno first, then Bun: both
 * also report a Node version.
 *
 * @returns The adapter's host.
 */
export function currentHost(): Host {
  if ("Deno" in globalThis) return denoHost;
  if ("Bun" in globalThis) return bunHost;
  return nodeHost;
}

/**
 * Serve an app across a rota of worker processes.
 *
 * Unset options come from the environment (`PORT`, `ROTA_WORKERS`, …), then
 * the defaults. Unlike the CLI, `serve()` installs no signal handlers: the
 * calling program decides when to `close()` or `reload()`.
 *
 * @param options The app module and the options of `rota serve`.
 * @returns The running rota, once every slot has a worker that is ready or failing.
 * @throws {RangeError} For an invalid option, with a one-line message.
 * @throws {RotaError} When the app cannot be loaded or the port cannot be bound.
 * @example
 * ```ts
 * import { serve } from "rota";
 * await using server = await serve({ app: "./app.ts", workers: 4, port: 8000 });
 * console.log(server.status());
 * ```
 */
export function serve(options: ServeOptions): Promise<Server> {
  return startServer(currentHost(), options);
}

/**
 * Whether the module whose `import.meta` is given is the program's entry.
 *
 * @param meta The caller's `import.meta`.
 * @returns True when it runs as the main module.
 */
export function isMain(meta: ImportMeta): boolean {
  const flag = (meta as ImportMeta & { main?: boolean }).main;
  if (typeof flag === "boolean") return flag;
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(meta.url));
  } catch {
    return false;
  }
}

/**
 * Run rota as a program: a worker when a supervisor started this process,
 * the command line otherwise, exiting with its code. Never throws.
 *
 * @returns When the program is done.
 */
export async function main(): Promise<void> {
  const host = currentHost();
  try {
    const channel = host.workerChannel();
    if (channel) {
      await runWorker(host, channel);
      return;
    }
    const code = await runCli(host, process.argv.slice(2));
    // The app module was imported here too: its timers or sockets must not keep a finished CLI alive.
    process.exit(code);
  } catch (error) {
    host.writeLog(`rota: ${describeError(error)}`);
    process.exit(1);
  }
}
