/**
 * Workers as `node:cluster` processes with `SCHED_NONE`: the supervisor owns
 * the listening socket and every worker accepts from it. Closing one worker's
 * handle leaves the socket open, so connections queued on it are taken by the
 * others: a drain loses nothing, with no sysctl (measured on Node and Deno,
 * see RUNTIME-NOTES.md).
 *
 * @module
 */

import cluster from "node:cluster";
import process from "node:process";
import type { SpawnRequest, WorkerChannel, WorkerProcess } from "../../runtime/host.ts";
import { heapLimitMiB } from "../../runtime/supervisor/memory_watch.ts";
import { processChannel } from "./channel.ts";
import { entryPath } from "../entry.ts";
import { loadNodeServer } from "./http.ts";
import { SPEC_VARIABLE, takeSpec } from "./process.ts";

/**
 * Start a worker process.
 *
 * @param request The spec and the callbacks.
 * @param env What the worker's environment has besides the supervisor's. @default {nothing}
 * @returns The supervisor's handle on it.
 */
export function clusterSpawn(request: SpawnRequest, env: Record<string, string> = {}): WorkerProcess {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: entryPath(),
    args: [],
    silent: false,
    execArgv: workerExecArgv(request.spec.maxMemory),
  });
  const worker = cluster.fork({ ...env, [SPEC_VARIABLE]: JSON.stringify(request.spec) });
  worker.on("message", (message: unknown) => request.onMessage(message));
  worker.on("exit", (code: number | null, signal: string | null) => request.onExit({ code, signal }));
  // A send racing the worker's exit fails with EPIPE; its exit is reported on its own.
  worker.on("error", () => {});
  return {
    pid: worker.process.pid ?? -1,
    send(message) {
      if (worker.isConnected()) worker.send(message);
    },
    kill(signal) {
      if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill(signal);
    },
  };
}

let serverLoaded: Promise<void> = Promise.resolve();

/**
 * Resolves once a worker's HTTP server module is loaded; at once elsewhere.
 * A worker imports its app only after it: the supervisor counts a worker
 * whose first `init` failed as started, so its `listen` (which follows `init`
 * at once) must not wait for a module load, or clients that were told the
 * rota is up would meet a port nobody listens on yet.
 *
 * @returns When the worker may import its app.
 */
export function workerServerLoaded(): Promise<void> {
  return serverLoaded;
}

/**
 * The runtime flags of a worker: the supervisor's own, plus a V8 heap limit at
 * the hard memory limit when `--max-memory` is set, so that V8 collects hard
 * before the heap can outgrow it (Deno's `node:cluster` passes the flag on to
 * V8 as well). A limit the user set (on the command line or in NODE_OPTIONS)
 * is left alone.
 *
 * @param maxMemory `--max-memory`, in bytes.
 * @returns The flags.
 */
export function workerExecArgv(maxMemory: number): string[] {
  const heap = heapLimitMiB(maxMemory);
  const own = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((flag) => flag.includes("max-old-space-size"));
  return heap === undefined || own ? process.execArgv : [...process.execArgv, `--max-old-space-size=${heap}`];
}

/**
 * This process's channel, when it is a cluster worker started by rota. It
 * also starts loading the HTTP server the worker will listen with.
 *
 * @param nodeHttp Whether the worker serves through `node:http`. @default {true}
 * @returns The channel, or `undefined`.
 */
export function clusterChannel(nodeHttp = true): WorkerChannel | undefined {
  if (!cluster.isWorker) return undefined;
  const spec = takeSpec();
  if (spec === undefined) return undefined;
  // A failure here is reported by listen, with its own message.
  if (nodeHttp) serverLoaded = loadNodeServer().then(() => {}, () => {});
  // Node's cluster exits a worker at once when its primary disappears, dropping
  // in-flight requests. Declaring the exit ours lets rota drain it gracefully.
  if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  return processChannel(spec, (done) => {
    const worker = cluster.worker;
    if (!worker || !worker.isConnected()) return done();
    // Leaving through disconnect lets the primary settle the shared handle
    // before the process is gone (a bare exit left connections hanging).
    worker.once("disconnect", done);
    worker.disconnect();
  });
}
