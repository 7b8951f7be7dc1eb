/**
 * The `rota` program's command line and the library's `serve()`, on the
 * host of the runtime this is (`current_host.ts`). A worker process runs
 * `worker_main.ts` instead, which loads neither the command line nor the
 * supervisor.
 *
 * @module
 */

import { runCli } from "../runtime/cli.ts";
import type { Host } from "../runtime/host.ts";
import type { ServeOptions } from "../runtime/options.ts";
import { type Server, startServer } from "../runtime/server.ts";
import { currentHost, exitOnFailure } from "./current_host.ts";
import type { HeldSignals } from "./early_signals.ts";

/**
 * The library's `serve()` (`mod.ts`, which loads this module on first use).
 *
 * @param options The app module and the options of `rota serve`.
 * @returns The running rota.
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
    exitOnFailure(error, host);
  }
}
