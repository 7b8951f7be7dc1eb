/**
 * The host of a Deno worker that its supervisor spawned itself (`spawn.ts`):
 * everything through Deno's own API, with the channel of `channel.ts` and
 * `Deno.serve` (`serve.ts`). Neither this module nor anything it imports
 * loads Deno's Node compatibility layer, which a forked worker pays for in
 * memory and in start-up CPU.
 *
 * @module
 */

import type { WorkerChannel, WorkerHost } from "../../runtime/host.ts";
import { SPEC_VARIABLE, type WorkerMessage } from "../../runtime/protocol.ts";
import { connectChannel, spawnedChannel } from "./channel.ts";
import { denoProcessHost } from "./process_host.ts";
import { listenDenoServe } from "./serve.ts";

/** The parts of the `Deno` global this file uses. */
interface DenoWorkerApi {
  env: { get(name: string): string | undefined; delete(name: string): void };
  exit(code: number): never;
}

const deno = (): DenoWorkerApi => (globalThis as unknown as { Deno: DenoWorkerApi }).Deno;

/** The channel to the supervisor, from the environment it left; `undefined` when this process is no such worker. */
function workerChannel(): WorkerChannel | undefined {
  const address = spawnedChannel();
  const raw = deno().env.get(SPEC_VARIABLE);
  if (address === undefined || raw === undefined) return undefined;
  // Not for the app's own child processes to take.
  deno().env.delete(SPEC_VARIABLE);
  let spec: unknown;
  try {
    spec = JSON.parse(raw);
  } catch {
    spec = null;
  }
  const channel = connectChannel(address);
  return {
    spec,
    send: (message: WorkerMessage) => channel.send(message),
    onMessage(handler) {
      channel.onMessage(handler);
      return () => channel.onMessage(undefined);
    },
    onDisconnect: (handler) => channel.onClose(handler),
    exit(code) {
      // Messages first (a `fatal` must reach the supervisor), then the channel, then the process.
      void channel.close().then(() => deno().exit(code));
    },
  };
}

/** A spawned Deno worker as a rota host. */
export const denoWorkerHost: WorkerHost = {
  ...denoProcessHost,
  runtime: "deno",
  workerChannel,
  listen: (options) => listenDenoServe(options),
};
