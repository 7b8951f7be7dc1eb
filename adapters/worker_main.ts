/**
 * What a worker process runs when its supervisor started it with the spec in
 * its environment (a `node:cluster` worker on Node and on Deno, a `Bun.spawn`
 * child on Bun), in place of `mod.ts`'s `main`: the worker, without the
 * command line, the supervisor and the operations pages, which a worker
 * never runs (~140 KiB of the bundle). Measured on this machine two seconds
 * after ready: a worker's resident set 0.5–0.8 MB smaller on Node 20 and
 * Bun; its CPU from spawn to ready unchanged (~99 ms on Node 20, ~33 on Bun).
 * A Deno worker that its supervisor spawned itself runs
 * `_deno/worker_main.ts`.
 *
 * @module
 */

import type { Host } from "../runtime/host.ts";
import { runWorker } from "../runtime/worker/worker.ts";
import { currentHost, exitOnFailure } from "./current_host.ts";
import type { HeldSignals } from "./early_signals.ts";

/**
 * Run this process as a worker; the command line when it has no channel to a
 * supervisor after all (the spec's variable set by hand, or inherited by a
 * process started without IPC). Never throws.
 *
 * @param held Signals held since the program started, handed over once the worker listens for them.
 * @returns When the worker is done.
 */
export async function main(held?: HeldSignals): Promise<void> {
  let host: Host | undefined;
  try {
    host = await currentHost();
    const channel = host.workerChannel();
    if (!channel) return await (await import("./mod.ts")).main(held);
    // The worker listens for signals as it starts (synchronously): what was held goes to it.
    const working = runWorker(host, channel);
    held?.release();
    await working;
  } catch (error) {
    held?.release();
    exitOnFailure(error, host);
  }
}
