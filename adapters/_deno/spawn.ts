/**
 * Deno workers that serve on `Deno.serve`, spawned by the supervisor itself
 * (`Deno.Command`) with a channel of rota's own (`channel.ts`) instead of
 * through `node:cluster`: such a worker needs no shared socket (it binds its
 * own `SO_REUSEPORT` one), and without Node's IPC channel it never starts
 * Deno's Node compatibility layer.
 *
 * A worker runs as `deno run -A --unstable-net [flags] <rota's program>`, as
 * Deno's `node:cluster` would run it: all permissions whatever the
 * supervisor's, and the supervisor's own `--unstable-*` and `--v8-flags`
 * (from `/proc/self/cmdline`, since Deno does not tell its flags otherwise).
 * Each worker has its channel in a directory of its own, made for it (mode
 * 0700, so only this user can connect) and removed once the worker connected
 * or exited.
 *
 * @module
 */

import type { SpawnRequest, WorkerProcess } from "../../runtime/host.ts";
import { SPEC_VARIABLE } from "../../runtime/protocol.ts";
import { heapLimitMiB } from "../../runtime/supervisor/memory_watch.ts";
import { CHANNEL_VARIABLE, LineChannel, type StreamConn } from "./channel.ts";

interface ChildStatus {
  readonly code: number;
  readonly signal: string | null;
}

interface ChildProcess {
  readonly pid: number;
  readonly status: Promise<ChildStatus>;
  kill(signal: string): void;
}

/** The parts of the `Deno` global this file uses. */
interface DenoSpawnApi {
  Command: new (command: string, options: {
    args: string[];
    env: Record<string, string>;
    stdin: "inherit";
    stdout: "inherit";
    stderr: "inherit";
  }) => { spawn(): ChildProcess };
  execPath(): string;
  listen(options: { transport: "unix"; path: string }): { accept(): Promise<StreamConn>; close(): void };
  makeTempDirSync(options: { prefix: string }): string;
  removeSync(path: string, options: { recursive: boolean }): void;
  readTextFileSync(path: string): string;
  env: { get(name: string): string | undefined };
  readonly pid: number;
}

const deno = (): DenoSpawnApi => (globalThis as unknown as { Deno: DenoSpawnApi }).Deno;

/**
 * The least size of a worker's young generation, in MiB: without Deno's Node
 * layer V8 kept it at about 1 MiB under load here, scavenged twice as often
 * as a forked worker, promoted requests still under way and ran full
 * collections, and a worker held 80–81 MB after 10 s of load against 68–72
 * for a forked one; with 2 MiB, 66–67 MB at the same throughput. A user's own
 * semi-space flag wins.
 */
const MIN_SEMI_SPACE_MIB = 2;

/**
 * The flags of this Deno process that a worker takes on, as `node:cluster`
 * passes them: its `--unstable-*` and `--v8-flags=…`, read from its command
 * line up to the program's module (the first argument after `run` that is not
 * a flag).
 *
 * @param commandLine The process's arguments, the executable first.
 * @returns The flags.
 */
export function inheritedFlags(commandLine: readonly string[]): string[] {
  const flags: string[] = [];
  for (const argument of commandLine.slice(1)) {
    if (argument === "run") continue;
    if (!argument.startsWith("-")) break;
    if (argument.startsWith("--unstable") || argument.startsWith("--v8-flags=")) flags.push(argument);
  }
  return flags;
}

/**
 * The arguments of a worker's `deno` command.
 *
 * @param entry rota's program (a path or `file:` URL).
 * @param inherited The supervisor's flags ({@linkcode inheritedFlags}).
 * @param maxMemory `--max-memory`, in bytes: V8's heap limit goes with it, unless the user set one
 * (in the inherited flags or in `DENO_V8_FLAGS`, which the worker inherits).
 * @param v8FromEnvironment `DENO_V8_FLAGS`.
 * @returns The arguments.
 */
export function workerArguments(
  entry: string,
  inherited: readonly string[],
  maxMemory: number,
  v8FromEnvironment = "",
): string[] {
  const unstable = new Set(["--unstable-net", ...inherited.filter((flag) => flag.startsWith("--unstable"))]);
  const users = inherited.filter((flag) => flag.startsWith("--v8-flags=")).flatMap((flag) =>
    flag.slice("--v8-flags=".length).split(",").filter((part) => part !== "")
  );
  const set = (name: string) => [...users, v8FromEnvironment].some((flag) => flag.includes(name));
  const v8 = [
    ...(set("semi-space") ? [] : [`--min-semi-space-size=${MIN_SEMI_SPACE_MIB}`]),
    ...users,
  ];
  const heap = heapLimitMiB(maxMemory);
  if (heap !== undefined && !set("max-old-space-size")) v8.push(`--max-old-space-size=${heap}`);
  return ["run", "-A", ...unstable, `--v8-flags=${v8.join(",")}`, entry];
}

/** This process's command line (Linux `/proc`); empty where it cannot be read. */
function commandLine(): string[] {
  try {
    return deno().readTextFileSync("/proc/self/cmdline").split("\0").filter((part) => part !== "");
  } catch {
    return [];
  }
}

/**
 * Start a worker with a channel of rota's own.
 *
 * @param request The spec and the callbacks.
 * @param entry rota's program, which the worker runs.
 * @param env What the worker's environment has besides the supervisor's (and the spec and channel).
 * @returns The supervisor's handle on it.
 */
export function spawnDenoWorker(request: SpawnRequest, entry: string, env: Record<string, string>): WorkerProcess {
  const api = deno();
  const directory = api.makeTempDirSync({ prefix: "rota-worker-" });
  const path = `${directory}/channel`;
  let listener: { accept(): Promise<StreamConn>; close(): void } | undefined;
  const tidy = () => {
    try {
      listener?.close();
    } catch {
      // Closed already.
    }
    listener = undefined;
    try {
      api.removeSync(directory, { recursive: true });
    } catch {
      // Removed already.
    }
  };
  let child: ChildProcess;
  try {
    listener = api.listen({ transport: "unix", path });
    child = new api.Command(api.execPath(), {
      args: workerArguments(entry, inheritedFlags(commandLine()), request.spec.maxMemory, api.env.get("DENO_V8_FLAGS")),
      env: { ...env, [SPEC_VARIABLE]: JSON.stringify(request.spec), [CHANNEL_VARIABLE]: `${api.pid}:${path}` },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    tidy();
    throw error;
  }
  const accepted = listener.accept();
  const channel = new LineChannel(accepted);
  // The socket's path is needed until the worker connected; after that nothing can connect to it again.
  accepted.then(tidy, tidy);
  channel.onMessage((raw) => request.onMessage(raw));
  let exited = false;
  // Reported once the process is gone and every message it sent was handed on (a `fatal` before the exit).
  void child.status.then(async (status) => {
    exited = true;
    tidy();
    await channel.closed;
    request.onExit({ code: status.signal ? null : status.code, signal: status.signal });
  });
  return {
    pid: child.pid,
    send(message) {
      void channel.send(message);
    },
    kill(signal) {
      if (exited) return;
      try {
        child.kill(signal);
      } catch {
        // It exited meanwhile; its exit is reported on its own.
      }
    },
  };
}
