/**
 * The host of a Deno worker that its supervisor spawned itself (`spawn.ts`):
 * everything through Deno's own API, with the channel of `channel.ts` and
 * `Deno.serve` (`serve.ts`). Neither this module nor anything it imports
 * loads Deno's Node compatibility layer, which a forked worker pays for in
 * memory and in start-up CPU.
 *
 * @module
 */

import { systemClock } from "../../runtime/clock.ts";
import type { HostSignal, WorkerChannel, WorkerHost } from "../../runtime/host.ts";
import { SPEC_VARIABLE, type WorkerMessage } from "../../runtime/protocol.ts";
import { importAppModule, type ModuleFiles } from "../import_module.ts";
import { connectChannel, spawnedChannel } from "./channel.ts";
import { listenDenoServe } from "./serve.ts";

interface Output {
  writeSync(bytes: Uint8Array): number;
  isTerminal(): boolean;
}

/** The parts of the `Deno` global this file uses. */
interface DenoWorkerApi {
  readonly pid: number;
  readonly stdout: Output;
  readonly stderr: Output;
  env: { get(name: string): string | undefined; delete(name: string): void; toObject(): Record<string, string> };
  addSignalListener(signal: HostSignal, handler: () => void): void;
  removeSignalListener(signal: HostSignal, handler: () => void): void;
  memoryUsage(): { rss: number; heapUsed: number };
  statSync(path: URL): { isFile: boolean };
  cwd(): string;
  exit(code: number): never;
}

const deno = (): DenoWorkerApi => (globalThis as unknown as { Deno: DenoWorkerApi }).Deno;

const encoder = new TextEncoder();

/** Write all of `text`, synchronously, so that lines stay whole and in order and none is lost at exit. */
function writeAll(output: Output, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) written += output.writeSync(bytes.subarray(written));
}

/** How Deno finds an app module's file (a worker is given a URL; a path is resolved from the working directory). */
const denoModuleFiles: ModuleFiles = {
  toUrl(specifier) {
    if (/^(file|https?|data):/.test(specifier)) return new URL(specifier);
    const base = new URL(`file://${deno().cwd().replace(/\/?$/, "/")}`);
    const url = new URL("file://");
    url.pathname = specifier.startsWith("/") ? specifier : new URL(specifier, base).pathname;
    return url;
  },
  exists(url) {
    try {
      return deno().statSync(url).isFile;
    } catch {
      return false;
    }
  },
  path: (url) => decodeURIComponent(url.pathname),
};

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
  runtime: "deno",
  clock: systemClock,
  pid: () => deno().pid,
  env: () => deno().env.toObject(),
  isTerminal: () => deno().stderr.isTerminal(),
  writeLog: (line) => writeAll(deno().stderr, `${line}\n`),
  writeOut: (text) => writeAll(deno().stdout, text),
  importModule: (specifier) => importAppModule(specifier, denoModuleFiles),
  onSignal(signal, handler) {
    deno().addSignalListener(signal, handler);
    return () => deno().removeSignalListener(signal, handler);
  },
  memoryUsage: () => deno().memoryUsage().rss,
  heapUsed: () => deno().memoryUsage().heapUsed,
  workerChannel,
  listen: (options) => listenDenoServe(options),
};
