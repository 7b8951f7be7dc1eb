/**
 * What a Deno worker that its supervisor spawned itself runs (`spawn.ts`),
 * in place of `adapters/worker_main.ts`'s `main`: the same worker, on a host that
 * loads nothing of Node's (`worker_host.ts`).
 *
 * @module
 */

import { describeError } from "../../runtime/errors.ts";
import { runWorker } from "../../runtime/worker/worker.ts";
import type { HeldSignals } from "../early_signals.ts";
import { denoWorkerHost } from "./worker_host.ts";

/**
 * Run this process as the worker its supervisor spawned. Never throws.
 *
 * @param held Signals held since the program started, handed over once the worker listens for them.
 * @returns When the worker is done.
 */
export async function main(held?: HeldSignals): Promise<void> {
  const host = denoWorkerHost;
  try {
    const channel = host.workerChannel();
    if (!channel) throw new Error("no channel to a supervisor in this process's environment");
    // The worker listens for signals as it starts (synchronously): what was held goes to it.
    const working = runWorker(host, channel);
    held?.release();
    await working;
  } catch (error) {
    held?.release();
    host.writeLog(`rota: ${describeError(error)}`);
    (globalThis as unknown as { Deno: { exit(code: number): never } }).Deno.exit(1);
  }
}
