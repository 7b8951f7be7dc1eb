/**
 * The contenders of a comparison: rota, the runtime's own server, PM2, each
 * started the same way and stopped by pid. Every wait is bounded.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { alive, freePort, killLeftovers, ROOT, Rota, TARGETS, waitFor } from "../test/_harness.ts";
import { packAndInstall } from "../test/_package.ts";
import type { RuntimeKey } from "./_args.ts";
import { privatePm2 } from "./_pm2.ts";

/** The seed's app: init 1000 ms (BENCH_INIT_MS), a one-line answer. */
export const APP = join(ROOT, "bench", "slow_init.js");

/** What a contender reports when it stops. */
export interface Stopped {
  /** rota: time with no worker ready over its whole life (from its shutdown line). */
  noWorkerReadyMs?: number;
}

/** A started contender. */
export interface Running {
  readonly url: string;
  /** The process a user starts (rota's supervisor, the server, the cluster primary); 0 when there is none. */
  readonly pid: number;
  /** Worker processes alive now (rota only). */
  workerPids(): number[];
  /** Workers replaced so far (rota: replacements; PM2: restarts). */
  recycles(): number;
  /** The log so far (rota). */
  log(): string;
  stop(): Promise<Stopped>;
}

/** A contender: a label and how to start it. */
export interface Contender {
  readonly label: string;
  start(): Promise<Running>;
}

/** The runtime's name as the table shows it. */
export function runtimeName(key: RuntimeKey): string {
  return TARGETS[key]().name;
}

/** What the runtime's own server is called. */
export function ownServerName(key: RuntimeKey): string {
  return key === "bun" ? "Bun.serve" : key === "deno" ? "Deno.serve" : "node:http";
}

/** Where the installed rota is: the project, and its program. */
export interface InstalledRota {
  readonly project: string;
  readonly main: string;
}

let installation: { dir: string; installed: Promise<InstalledRota> } | undefined;

/**
 * rota as `npm install rota` gives it (packed from this tree, installed into a
 * new project once per run): its `dist/main.js`, which `npx rota`,
 * `bunx --bun rota` and `deno run npm:rota` run. The sources would be another
 * program than the one users run (on Deno they hold several MB more per
 * process: ~80 modules compiled one by one).
 *
 * @returns The project it is installed in (rota runs with it as working
 * directory, as a user's does) and the installed program's path.
 */
export function installedRota(): Promise<InstalledRota> {
  if (!installation) {
    const dir = mkdtempSync(join(tmpdir(), "rota-bench-package-"));
    const installed = packAndInstall(dir, []).then(({ project }) => ({
      project,
      main: join(project, "node_modules", "rota", "dist", "main.js"),
    }));
    installation = { dir, installed };
  }
  return installation.installed;
}

/** Remove what {@linkcode installedRota} installed. */
export function removeInstalledRota(): void {
  if (installation) rmSync(installation.dir, { recursive: true, force: true });
  installation = undefined;
}

/** rota serving the seed's app, as installed ({@linkcode installedRota}). */
export function rotaContender(
  key: RuntimeKey,
  label: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Contender {
  return {
    label,
    async start() {
      const target = TARGETS[key]();
      const { project, main } = await installedRota();
      // From the project's directory, as a user runs it (Deno would otherwise find this tree's deno.json).
      const rota = await Rota.serve({ ...target, command: [...target.script, main] }, APP, args, { env, cwd: project });
      return {
        url: rota.url,
        pid: rota.child.pid ?? 0,
        workerPids: () => rota.workerPids().filter(alive),
        // Counted when the supervisor decides, so a recycle late in a run belongs to that run.
        recycles: () => rota.log.match(/recycling worker \d+\.\d+ /g)?.length ?? 0,
        log: () => rota.log,
        async stop() {
          await rota.stop();
          const pretty = /shutting down gracefully \(.*noWorkerReadyMs=(\d+)/.exec(rota.log)?.[1];
          const json = /"msg":"shutting down gracefully".*"noWorkerReadyMs":(\d+)/.exec(rota.log)?.[1];
          const ms = pretty ?? json;
          return ms === undefined ? {} : { noWorkerReadyMs: Number(ms) };
        },
      };
    },
  };
}

/** Processes started by the suite, each killed by its pid. */
function started(children: ChildProcess[]): () => Promise<void> {
  return async () => {
    await Promise.all(children.map((child) =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once("close", () => done());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3000).unref();
      })
    ));
  };
}

/** Every process this module launched that has not exited yet. */
const launchedChildren = new Set<ChildProcess>();

/**
 * Stop every process this module launched and every rota the harness
 * started, when the benchmark is interrupted.
 */
export async function stopEverything(): Promise<void> {
  await Promise.all([started([...launchedChildren])(), killLeftovers()]);
  removeInstalledRota();
}

function launch(
  command: readonly string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string } {
  const [file, ...args] = command;
  const child = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  launchedChildren.add(child);
  child.once("exit", () => launchedChildren.delete(child));
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  return { child, output: () => output };
}

/**
 * Launch `count` processes of one server and wait until each says "listening";
 * when one does not, every one is stopped again.
 */
async function launchListening(
  label: string,
  command: readonly string[],
  env: Record<string, string>,
  count = 1,
): Promise<{ launched: ReturnType<typeof launch>[]; stop: () => Promise<void> }> {
  const launched = Array.from({ length: count }, () => launch(command, env));
  const stop = started(launched.map((l) => l.child));
  try {
    for (const { output, child } of launched) {
      await waitFor(`${label} to listen`, () => {
        if (child.exitCode !== null) throw new Error(`${label} exited: ${output()}`);
        return output().includes("listening");
      }, 15000);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { launched, stop };
}

function plain(url: string, pid: number, stop: () => Promise<void>): Running {
  return {
    url,
    pid,
    workerPids: () => [],
    recycles: () => 0,
    log: () => "",
    async stop() {
      await stop();
      return {};
    },
  };
}

/**
 * The runtime's own server running the same handler: one process, or
 * `processes` SO_REUSEPORT processes, or (Node) a cluster of `clusterWorkers`.
 */
export function ownServer(
  key: RuntimeKey,
  label: string,
  options: { processes?: number; clusterWorkers?: number } = {},
): Contender {
  const { processes = 1, clusterWorkers = 0 } = options;
  return {
    label,
    async start() {
      const port = await freePort();
      const script = TARGETS[key]().script;
      const env: Record<string, string> = {
        PORT: String(port),
        REUSE_PORT: processes > 1 ? "1" : "0",
        CLUSTER_WORKERS: String(clusterWorkers),
      };
      const { launched, stop } = await launchListening(label, [...script, "bench/own_server.js"], env, processes);
      return plain(`http://127.0.0.1:${port}/`, launched[0].child.pid ?? 0, stop);
    },
  };
}

/** `deno serve --parallel` with `threads` threads over one socket. */
export function denoParallel(label: string, threads: number): Contender {
  return {
    label,
    async start() {
      const port = await freePort();
      const [deno] = TARGETS.deno().script;
      const { child, output } = launch(
        [deno, "serve", "-A", "--parallel", "--host", "127.0.0.1", "--port", String(port), "bench/deno_parallel.js"],
        { DENO_JOBS: String(threads) },
      );
      const stop = started([child]);
      try {
        await waitFor(`${label} to listen`, () => {
          if (child.exitCode !== null) throw new Error(`${label} exited: ${output()}`);
          return /Listening on/.test(output()) && fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok);
        }, 15000);
      } catch (error) {
        await stop();
        throw error;
      }
      return plain(`http://127.0.0.1:${port}/`, child.pid ?? 0, stop);
    },
  };
}

/** PM2 in cluster mode on the machine's Node; with `exitAfter`, the app leaves after that many answers. */
export function pm2Contender(label: string, workers: number, exitAfter: number): Contender {
  return {
    label,
    async start() {
      const port = await freePort();
      const pm2 = privatePm2();
      try {
        pm2.run(["start", join(ROOT, "bench", "pm2_app.cjs"), "-i", String(workers), "--name", "bench"], {
          PORT: String(port),
          MAX_REQUESTS: String(exitAfter),
        });
        await waitFor("pm2's app", () => fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok), 20000, 100);
      } catch (error) {
        pm2.stop();
        throw error;
      }
      return {
        url: `http://127.0.0.1:${port}/`,
        pid: 0,
        workerPids: () => [],
        recycles() {
          const list = JSON.parse(pm2.run(["jlist"])) as Array<{ pm2_env: { restart_time: number } }>;
          return list.reduce((sum, app) => sum + app.pm2_env.restart_time, 0);
        },
        log: () => "",
        stop() {
          pm2.stop();
          return Promise.resolve({});
        },
      };
    },
  };
}

/**
 * The floor of replacement-first recycling (`bench/floor_recycling.js`): the
 * runtime's own server replaced every 500 requests the way rota replaces a
 * worker, with nothing of rota's; `recycle: false` is the same server never
 * replaced, the one it is compared with.
 */
export function floorRecycling(key: RuntimeKey, label: string, recycle: boolean): Contender {
  return {
    label,
    async start() {
      const port = await freePort();
      const { launched: [{ child, output }], stop } = await launchListening(
        label,
        [...TARGETS[key]().script, "bench/floor_recycling.js"],
        { PORT: String(port), RECYCLE: recycle ? "1" : "0" },
      );
      const running = plain(`http://127.0.0.1:${port}/`, child.pid ?? 0, stop);
      return { ...running, recycles: () => output().match(/^recycled$/gm)?.length ?? 0 };
    },
  };
}

/**
 * The least a supervisor does (`bench/floor_supervisor.js`): one worker with
 * an IPC channel, a message each way every 100 ms, and with `listen` a TCP
 * listener; for its memory, once it has run `runMs`.
 */
export async function floorSupervisor(
  key: RuntimeKey,
  listen: boolean,
  runMs: number,
): Promise<{ pid: number; stop: () => Promise<void> }> {
  const { child, output } = launch([...TARGETS[key]().script, "bench/floor_supervisor.js"], {
    LISTEN: listen ? "1" : "0",
  });
  const stop = started([child]);
  await waitFor("a floor supervisor", () => output().includes("supervising"), 15000);
  await new Promise((resolve) => setTimeout(resolve, runMs));
  return { pid: child.pid ?? 0, stop };
}

/** A bare process of the runtime: `bench/idle.js`, for its memory. */
export async function bareIdle(key: RuntimeKey): Promise<{ pid: number; stop: () => Promise<void> }> {
  const { child, output } = launch([...TARGETS[key]().script, "bench/idle.js"], {});
  const stop = started([child]);
  await waitFor("a bare process", () => output().includes("idle"), 15000);
  return { pid: child.pid ?? 0, stop };
}

/**
 * A bare process of the runtime importing the app and running its init
 * (and with `listen`, serving it on the runtime's own server).
 *
 * @returns Milliseconds from spawn to its "ready" line, and the init's own duration.
 */
export async function bareStart(key: RuntimeKey, listen: boolean): Promise<{ ms: number; initMs: number }> {
  const began = performance.now();
  const { child, output } = launch([
    ...TARGETS[key]().script,
    "bench/bare_start.js",
    "bench/slow_init.js",
    ...(listen ? ["listen"] : []),
  ], {});
  const stop = started([child]);
  try {
    const initMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line within 15 s: ${output()}`)), 15000);
      child.stdout!.on("data", () => {
        const match = /ready ([\d.]+)/.exec(output());
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`bare start exited: ${output()}`));
      });
    });
    return { ms: performance.now() - began, initMs };
  } finally {
    await stop();
  }
}

/**
 * Private memory of a process in MB (its unique set size: the private pages
 * of /proc/<pid>/smaps_rollup), or NaN when it is gone. Unlike the resident
 * set size, it leaves out the pages it shares with other processes, most of
 * them the runtime's own executable: what one more such process costs.
 */
export async function privateMb(pid: number): Promise<number> {
  try {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1]);
    return (kb("Private_Clean") + kb("Private_Dirty")) / 1024;
  } catch {
    return NaN;
  }
}

/**
 * CPU time a process has spent so far, in ms (Linux `/proc/<pid>/task/<tid>/schedstat`, nanoseconds on a CPU),
 * split between its main thread (the event loop, where requests are answered) and its other threads: V8's
 * background compilers and GC helpers on Node and Deno, JavaScriptCore's on Bun. NaN when the process is gone.
 */
export async function threadCpuMs(pid: number): Promise<{ main: number; background: number }> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return { main: NaN, background: NaN };
  }
  let main = 0;
  let background = 0;
  for (const tid of tids) {
    // A thread that ends between two readings takes its time with it (V8's and JSC's helpers are long-lived).
    const ns = Number(
      await readFile(`/proc/${pid}/task/${tid}/schedstat`, "utf8").then((s) => s.split(" ")[0], () => 0),
    );
    if (tid === String(pid)) main += ns / 1e6;
    else background += ns / 1e6;
  }
  return { main, background };
}

/** Resident set size of a process in MB (Linux /proc), or NaN when it is gone. */
export async function rssMb(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}
