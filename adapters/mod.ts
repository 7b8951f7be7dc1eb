/**
 * The edge: the one place that looks at which runtime this is, and loads
 * that runtime's adapter (and only that one: Deno never loads Bun's, and no
 * runtime loads `@hono/node-server` before a worker listens). Everything
 * behind it takes a `Host`.
 *
 * @module
 */

import { runCli } from "../runtime/cli.ts";
import { describeError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";
import type { ServeOptions } from "../runtime/options.ts";
import { type Server, startServer } from "../runtime/server.ts";
import { runWorker } from "../runtime/worker/worker.ts";
import type { HeldSignals } from "./early_signals.ts";

/**
 * The host for the runtime this code runs on. Deno first, then Bun: both
 * also report a Node version.
 *
 * @returns The adapter's host, loaded on first use.
 */
export async function currentHost(): Promise<Host> {
  if ("Deno" in globalThis) return await (await import("./deno.ts")).loadDenoHost();
  if ("Bun" in globalThis) return (await import("./bun.ts")).host;
  return (await import("./node.ts")).host;
}

/**
 * Serve an app across a rota of worker processes.
 *
 * Unset options come from the environment (`PORT`, `ROTA_WORKERS`, …), then
 * from `rota.config.json` in the working directory (or the file `config`
 * names), then the defaults. Unlike the CLI, `serve()` installs no signal
 * handlers: the calling program decides when to `close()` or `reload()`.
 *
 * @param options The app module and the options of `rota serve`.
 * @returns The running rota, once every slot has a worker that is ready or failing.
 * @throws {RangeError} For an invalid option value, with a one-line message.
 * @throws {RotaError} `ERR_ROTA_USAGE` for an unknown option; another code when
 * the app cannot be loaded or the port cannot be bound.
 * @example
 * ```ts
 * import { serve } from "rota";
 * await using server = await serve({ app: "./app.ts", workers: 4, port: 8000 });
 * console.log(server.status());
 * ```
 */
export async function serve(options: ServeOptions): Promise<Server> {
  return await startServer(await currentHost(), options);
}

/**
 * Run rota as a program: a worker when a supervisor started this process,
 * the command line otherwise, exiting with its code. Never throws.
 *
 * @param held Signals held since the program started, handed over once rota listens for them.
 * @returns When the program is done (a CLI process has exited by then).
 */
export async function main(held?: HeldSignals): Promise<void> {
  let host: Host | undefined;
  try {
    host = await currentHost();
    const channel = host.workerChannel();
    if (channel) {
      // The worker listens for signals as it starts (synchronously): what was held goes to it.
      const working = runWorker(host, channel);
      held?.release();
      await working;
      return;
    }
    const running = runCli(host, [...host.args()]);
    held?.release();
    const code = await running;
    // The app module was imported here too: its timers or sockets must not keep a finished CLI alive.
    host.exit(code);
  } catch (error) {
    held?.release();
    const line = `rota: ${describeError(error)}`;
    if (host) {
      host.writeLog(line);
      host.exit(1);
    }
    exitWithoutHost(line);
  }
}

/** Leave when not even the runtime's adapter could be loaded. */
function exitWithoutHost(line: string): never {
  console.error(line);
  const global = globalThis as unknown as { Deno?: Exits; process?: Exits };
  return (global.Deno ?? global.process)!.exit(1);
}

interface Exits {
  exit(code: number): never;
}
