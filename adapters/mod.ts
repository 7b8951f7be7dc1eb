/**
 * The `rota` program's command line and the library's `serve()`, on the
 * host of the runtime this is (`current_host.ts`). A worker process runs
 * `worker_main.ts` instead, which loads neither the command line nor the
 * supervisor.
 *
 * @module
 */

import { runCli } from "../runtime/cli.ts";
import { describeError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";
import type { ServeOptions } from "../runtime/options.ts";
import { type Server, startServer } from "../runtime/server.ts";
import { currentHost, exitWithoutHost } from "./current_host.ts";
import type { HeldSignals } from "./early_signals.ts";

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
 * Run rota's command line, exiting with its code. Never throws.
 *
 * @param held Signals held since the program started, handed over once rota listens for them.
 * @returns Never: the process has exited by then.
 */
export async function main(held?: HeldSignals): Promise<void> {
  let host: Host | undefined;
  try {
    host = await currentHost();
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
