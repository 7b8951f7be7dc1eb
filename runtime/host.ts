/**
 * The Host contract: everything rota needs from a runtime, as types. Each
 * adapter (`adapters/node.ts`, `adapters/bun.ts`, `adapters/deno.ts`) exports
 * a `host` annotated with {@linkcode Host}, so the compiler checks the fit;
 * nothing under `runtime/` touches a runtime global.
 *
 * The contract has three parts: what every rota process needs
 * ({@linkcode HostBase}), what only the supervisor needs
 * ({@linkcode SupervisorHost}), and what only a worker needs
 * ({@linkcode WorkerHost}). The supervisor's code takes a `SupervisorHost`,
 * the worker's a `WorkerHost`, so neither can reach for the other's side.
 *
 * @module
 */

import type { RuntimeName } from "./app.ts";
import type { Clock } from "./clock.ts";
import type { OpsHost } from "./ops/ops_host.ts";
import type { ResolvedOptions } from "./options.ts";
import type { SupervisorMessage, WorkerMessage, WorkerSpec } from "./protocol.ts";
import type { NativeWebSockets, RequestConnection } from "./connection.ts";
import type { Connection } from "./worker/response_stream.ts";

export type { Connection, RequestConnection };

/** How a worker process ended, as the operating system reports it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** The supervisor's handle on one worker. */
export interface WorkerProcess {
  readonly pid: number;
  /** Send a message; silently dropped when the channel is already closed. */
  send(message: SupervisorMessage): void;
  /** Send it a signal. */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

/** What the supervisor asks of `spawn`. */
export interface SpawnRequest {
  readonly spec: WorkerSpec;
  /** Every message the worker sends, unvalidated. */
  onMessage(raw: unknown): void;
  /** Called once, when the process has exited. */
  onExit(exit: ProcessExit): void;
}

/** A worker's end of the IPC channel. */
export interface WorkerChannel {
  /** The spec the supervisor sent, unvalidated. */
  readonly spec: unknown;
  /** Send a message; resolves once the runtime has written it out (never rejects). */
  send(message: WorkerMessage): Promise<void>;
  /** Returns its own teardown. */
  onMessage(handler: (raw: unknown) => void): () => void;
  /** The supervisor went away. Returns its own teardown. */
  onDisconnect(handler: () => void): () => void;
  /** Leave the channel cleanly, then end the process with `code`. */
  exit(code: number): void;
}

/** What `listen` serves. */
export interface ListenOptions {
  readonly hostname: string;
  readonly port: number;
  /**
   * Answer one request; never rejects. rota applies its own limits (body
   * size, request timeout) in here, the same on every runtime: an adapter
   * turns off its runtime's own request and idle timeouts and body limits,
   * so that answers at a limit do not depend on the runtime.
   *
   * `connection` tells the client's address, carries the runtime's own
   * bindings for the app, and accepts a WebSocket when the request asks for
   * one (see `connection.ts`).
   *
   * It answers synchronously when it can (see `handleRequest`), so the
   * adapter hands its runtime's server the `Response` itself, not a promise.
   */
  fetch(request: Request, connection: RequestConnection): Response | Promise<Response>;
  /** WebSockets the app opens through its runtime's own API (Bun's `server.upgrade`). @default {none} */
  readonly webSockets?: NativeWebSockets;
  /** A problem the server met and got over, for the worker's log. @default {nothing} */
  warn?(message: string): void;
}

/** A listening server. */
export interface Listener {
  /**
   * Stop taking new connections where the runtime can do so without closing
   * open keep-alive connections (Node and Deno); elsewhere a no-op, and
   * `close()` stops accepting.
   *
   * `final`: no other worker takes over the port (a full stop). Where the
   * adapter can, no new handshake starts from then on, and the connections
   * already queued are accepted and answered before the socket closes,
   * rather than reset.
   */
  stopAccepting(final?: boolean): void | Promise<void>;
  /**
   * Stop accepting new connections for now, keeping the open ones (on Bun,
   * whose server cannot stop accepting alone, idle keep-alive connections are
   * closed too). Resolves once new connections go elsewhere.
   */
  pause(): Promise<void>;
  /**
   * Accept again after `pause()`.
   * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound again.
   */
  resume(): Promise<void>;
  /**
   * Stop accepting, close idle keep-alive connections, and resolve once every
   * connection has ended.
   */
  close(): Promise<void>;
  /** Drop every connection now (the graceful timeout passed). */
  closeAll(): void;
}

/** The signals rota acts on. */
export type HostSignal = "SIGTERM" | "SIGINT" | "SIGHUP";

/** What every rota process needs from its runtime. */
export interface HostBase {
  readonly runtime: RuntimeName;
  readonly clock: Clock;
  pid(): number;
  /** The program's arguments: what follows the runtime's own and the program's path. */
  args(): readonly string[];
  /** End this process now, with `code`. */
  exit(code: number): never;
  env(): Record<string, string | undefined>;
  isTerminal(): boolean;
  /** Write one log line to standard error. */
  writeLog(line: string): void;
  /** Write text to standard output (help, `check` and `status` results, access log lines). */
  writeOut(text: string): void;
  /**
   * Import a module by path (relative to the working directory) or URL.
   * @throws {RotaError} `ERR_ROTA_APP_NOT_FOUND` or `ERR_ROTA_APP_IMPORT`.
   */
  importModule(specifier: string): Promise<{ url: string; module: unknown }>;
  /** Add a signal handler; returns its teardown. */
  onSignal(signal: HostSignal, handler: () => void): () => void;
}

/** What the supervisor (and the command line around it) needs besides {@linkcode HostBase}. */
export interface SupervisorHost extends HostBase {
  parallelism(): number;
  /** The admin listener, the control socket and systemd's notify socket. */
  readonly ops: OpsHost;
  /** Read a UTF-8 file (relative paths from the working directory). */
  readTextFile(path: string): Promise<string>;
  /** Replace a file's content atomically (write beside it, then rename). */
  writeTextFileAtomic(path: string, text: string): Promise<void>;
  /** Call `onChange` when the file's content may have changed; returns its teardown. */
  watchFile(path: string, onChange: () => void): () => void;
  /**
   * Check what can be checked before any worker starts (the port is free,
   * permissions) and return warnings worth printing.
   * @throws {RotaError} When serving cannot work.
   */
  prepare(options: ResolvedOptions): Promise<string[]>;
  /** Start a worker. */
  spawn(request: SpawnRequest): WorkerProcess;
  /**
   * The resident set size of another process, in bytes, measured from outside
   * (Linux: `/proc/<pid>/status`), so that a worker whose event loop is
   * blocked is still measured; `undefined` where the system cannot tell.
   */
  residentMemory(pid: number): number | undefined;
}

/** What a worker needs besides {@linkcode HostBase}. */
export interface WorkerHost extends HostBase {
  /** Resident set size of this process, in bytes. */
  memoryUsage(): number;
  /** JavaScript heap in use in this process, in bytes. */
  heapUsed(): number;
  /** The channel to the supervisor, or `undefined` when this process is no worker. */
  workerChannel(): WorkerChannel | undefined;
  /**
   * Serve `fetch` on the shared port.
   * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
   */
  listen(options: ListenOptions): Promise<Listener>;
}

/** Everything an adapter provides: both sides, since one program is both. */
export type Host = SupervisorHost & WorkerHost;

/**
 * What a runtime's process gives the same way to a supervisor and a worker
 * (an adapter's shared part): all of {@linkcode Host} but the runtime's name,
 * its operations, and the spawning, channel and serving of workers.
 */
export type ProcessHost = Omit<Host, "runtime" | "ops" | "prepare" | "spawn" | "workerChannel" | "listen">;
