/**
 * Deno workers that serve on `Deno.serve`, spawned by the supervisor itself
 * (`Deno.Command`) with a channel of rota's own (`channel.ts`) instead of
 * through `node:cluster`: such a worker needs no shared socket (it binds its
 * own `SO_REUSEPORT` one), and without Node's IPC channel it never starts
 * Deno's Node compatibility layer.
 *
 * A worker runs as `deno run -A --unstable-net [flags] <rota's program>`:
 * all permissions whatever the supervisor's (as Deno's `node:cluster` runs
 * a child), and the supervisor's own `--unstable-*` and `--v8-flags` (read
 * from `/proc/self/cmdline`, since Deno does not tell its flags otherwise),
 * as Node's cluster hands a worker its primary's flags; a `--max-old-space-size`
 * there replaces the heap limit rota derives from `--max-memory`, as on Node.
 * Each worker's channel is a socket in a directory of its own under
 * `$XDG_RUNTIME_DIR` or `/tmp` (short: a socket's path has ~107 bytes), made
 * for it (mode 0700, so only this user can connect) and removed once the
 * worker connected or exited (left behind, empty of any listener, if the
 * supervisor is SIGKILLed in between). A connection that does not first say
 * the token the worker was given is closed; the worker's is taken whichever
 * connects first.
 *
 * @module
 */

import type { SpawnRequest, WorkerProcess } from "../../runtime/host.ts";
import { SPEC_VARIABLE } from "../../runtime/protocol.ts";
import { heapLimitMiB } from "../../runtime/supervisor/memory_watch.ts";
import type { SupervisorMessage } from "../../runtime/protocol.ts";
import { CHANNEL_VARIABLE, channelVariable, LineChannel, type StreamConn } from "./channel.ts";

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
  makeTempDirSync(options: { prefix: string; dir: string }): string;
  removeSync(path: string, options: { recursive: boolean }): void;
  readTextFileSync(path: string): string;
  env: { get(name: string): string | undefined };
  readonly pid: number;
  readonly args: readonly string[];
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
 * The flags of this Deno process that a worker takes on: its `--unstable-*`
 * and `--v8-flags=…`, from its command line before the program's module
 * (which comes just before the program's own arguments, `Deno.args`).
 *
 * @param commandLine The process's arguments, the executable first.
 * @param programArguments How many arguments the program itself was given.
 * @returns The flags.
 */
export function inheritedFlags(commandLine: readonly string[], programArguments: number): string[] {
  return commandLine.slice(1, Math.max(1, commandLine.length - programArguments - 1))
    .filter((argument) => argument.startsWith("--unstable") || argument.startsWith("--v8-flags="));
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
  return ["run", "-A", ...unstable, ...(v8.length > 0 ? [`--v8-flags=${v8.join(",")}`] : []), entry];
}

/** How long a worker's exit waits for the rest of what it sent (its socket is closed by then; a stranger's may not be). */
const EXIT_READ_MS = 1000;

/**
 * Take the first connection that says `token` first, closing the others;
 * `undefined` once the listener closed with none.
 *
 * @param listener Where connections come from.
 * @param token What the worker says first.
 * @param onMessage Where the chosen channel's messages go.
 * @returns The worker's channel.
 */
export function admit(
  listener: { accept(): Promise<StreamConn> },
  token: string,
  onMessage: (raw: unknown) => void,
): Promise<LineChannel | undefined> {
  return new Promise((resolve) => {
    const candidates = new Set<LineChannel>();
    let chosen = false;
    const choose = (winner: LineChannel | undefined) => {
      if (chosen) return;
      chosen = true;
      for (const candidate of candidates) if (candidate !== winner) void candidate.close();
      resolve(winner);
    };
    void (async () => {
      for (;;) {
        let conn: StreamConn;
        try {
          conn = await listener.accept();
        } catch {
          return choose(undefined);
        }
        if (chosen) return conn.close();
        const candidate = new LineChannel(conn, token);
        candidate.onMessage(onMessage);
        candidates.add(candidate);
        void candidate.admitted.then((admitted) => admitted ? choose(candidate) : candidates.delete(candidate));
      }
    })();
  });
}

let supervisorFlags: string[] | undefined;

/** This supervisor's flags for its workers ({@linkcode inheritedFlags}), read from Linux `/proc` once. */
function flagsToInherit(): string[] {
  if (supervisorFlags) return supervisorFlags;
  let commandLine: string[] = [];
  try {
    commandLine = deno().readTextFileSync("/proc/self/cmdline").split("\0").filter((part) => part !== "");
  } catch {
    // Not Linux: the worker gets rota's own flags only.
  }
  return supervisorFlags = inheritedFlags(commandLine, deno().args.length);
}

/**
 * A private directory for one worker's socket, under `$XDG_RUNTIME_DIR`, or
 * `/tmp` when that is unset or unusable (systemd removes a user's runtime
 * directory when the user's last session ends).
 */
function makeChannelDirectory(): string {
  const runtimeDir = deno().env.get("XDG_RUNTIME_DIR");
  if (runtimeDir) {
    try {
      return deno().makeTempDirSync({ prefix: "rota-w-", dir: runtimeDir });
    } catch {
      // Gone or not writable: /tmp.
    }
  }
  return deno().makeTempDirSync({ prefix: "rota-w-", dir: "/tmp" });
}

/**
 * Whether this supervisor can make its workers' channels (a private
 * directory, a socket in it): tried once before any worker starts, and left
 * as it found it.
 *
 * @returns False when it cannot (a read-only or missing directory, a path too long for a socket).
 */
export function canMakeChannels(): boolean {
  let directory: string | undefined;
  try {
    directory = makeChannelDirectory();
    deno().listen({ transport: "unix", path: `${directory}/c` }).close();
    return true;
  } catch {
    return false;
  } finally {
    if (directory !== undefined) {
      try {
        deno().removeSync(directory, { recursive: true });
      } catch {
        // Removed already.
      }
    }
  }
}

/**
 * Start a worker with a channel of rota's own.
 *
 * @param request The spec and the callbacks.
 * @param entry rota's program, which the worker runs.
 * @param env What the worker's environment has besides the supervisor's (and the spec and channel).
 * @returns The supervisor's handle on it.
 * @throws {Error} When the channel's socket cannot be made or the process cannot start (nothing is left behind).
 */
export function spawnDenoWorker(request: SpawnRequest, entry: string, env: Record<string, string>): WorkerProcess {
  const api = deno();
  const directory = makeChannelDirectory();
  const path = `${directory}/c`;
  const token = crypto.randomUUID();
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
      args: workerArguments(
        entry,
        flagsToInherit(),
        request.spec.maxMemory,
        api.env.get("DENO_V8_FLAGS"),
      ),
      env: {
        ...env,
        [SPEC_VARIABLE]: JSON.stringify(request.spec),
        [CHANNEL_VARIABLE]: channelVariable(api.pid, { path, token }),
      },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    tidy();
    throw error;
  }
  // Messages for the worker before it connected wait here.
  let channel: LineChannel | undefined;
  const waiting: SupervisorMessage[] = [];
  const admitted = admit(listener, token, (raw) => request.onMessage(raw));
  // The socket's path is needed until the worker connected; after that nothing can connect to it again.
  void admitted.then((found) => {
    tidy();
    channel = found;
    for (const message of waiting.splice(0)) void found?.send(message);
  });
  let exited = false;
  // Reported once the process is gone and what it sent was handed on (a `fatal` before the exit).
  void child.status.then(async (status) => {
    exited = true;
    tidy();
    const found = await admitted;
    if (found) await Promise.race([found.closed, new Promise((done) => setTimeout(done, EXIT_READ_MS))]);
    request.onExit({ code: status.signal ? null : status.code, signal: status.signal });
  });
  return {
    pid: child.pid,
    send(message) {
      if (channel) void channel.send(message);
      else if (!exited) waiting.push(message);
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
