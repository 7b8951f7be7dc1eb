/**
 * Deno workers serving on `Deno.serve`, each on its own `SO_REUSEPORT`
 * socket: about twice the throughput of `node:http` on Deno, at a third of
 * the memory (see the README's benchmarks). It takes three things, which the
 * supervisor checks before it starts any worker ({@linkcode nativeServing}):
 *
 * - `--unstable-net`, for `reusePort` (workers inherit the supervisor's flags);
 * - Linux's `net.ipv4.tcp_migrate_req` at 1, so that connections queued on a
 *   draining worker's socket go to a sibling's instead of being reset;
 * - `--allow-ffi` and libc's `shutdown`: `Deno.serve`'s own `shutdown()` closes
 *   the listener *and* drops connections it accepted but has not read a
 *   request from yet (4–23 lost per drain, RUNTIME-NOTES.md). A draining
 *   worker therefore first takes its listening socket out of service with
 *   `shutdown(fd, SHUT_RD)` (its queue migrates, nothing new arrives), keeps
 *   answering on what it accepted, and calls `Deno.serve`'s `shutdown()` only
 *   once every accepted connection has had time to send its request.
 *
 * Without any of the three, Deno workers serve through `node:http` on the
 * supervisor's socket, which loses nothing with no sysctl and no flag.
 *
 * @module
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import {
  asksForWebSocket,
  familyOf,
  MAX_MESSAGE_BYTES,
  type RemoteAddress,
  type RequestConnection,
  type ServerSocket,
  type SocketAcceptance,
  UPGRADE_NOT_FORWARDED,
} from "../../runtime/connection.ts";
import { describeError, RotaError } from "../../runtime/errors.ts";
import type { Listener, ListenOptions } from "../../runtime/host.ts";
import { listenError } from "../_node/process.ts";

interface NetAddr {
  readonly hostname: string;
  readonly port: number;
  readonly transport: string;
}

interface HttpServer {
  readonly addr: NetAddr;
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

interface DenoSocket {
  binaryType: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly protocol: string;
  onopen: (() => void) | null;
  onmessage: ((event: { data: string | ArrayBuffer }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: { error?: unknown; message?: string }) => void) | null;
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

interface Library {
  symbols: { shutdown(fd: number, how: number): number };
  close(): void;
}

/** The parts of the `Deno` global this file uses. */
interface DenoServeApi {
  serve(
    options: {
      hostname: string;
      port: number;
      reusePort: boolean;
      onListen(): void;
      onError(error: unknown): Response;
    },
    handler: (request: Request, info: { remoteAddr: NetAddr }) => Promise<Response>,
  ): HttpServer;
  upgradeWebSocket(request: Request, options: { protocol?: string }): { socket: DenoSocket; response: Response };
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): Library;
  listenDatagram?: unknown;
  permissions: { querySync(descriptor: { name: string }): { state: string } };
}

const deno = (): DenoServeApi => (globalThis as unknown as { Deno: DenoServeApi }).Deno;

const SHUT_RD = 0;
const LIBC = "libc.so.6";

let libc: Library | undefined;

function openLibc(): Library {
  return libc ??= deno().dlopen(LIBC, { shutdown: { parameters: ["i32", "i32"], result: "i32" } });
}

/**
 * Whether Deno workers can serve on `Deno.serve` without losing a connection
 * at a drain, and if not, why.
 *
 * @param migration Warnings from making sure `tcp_migrate_req` is 1 (none when it is).
 * @returns `undefined` when they can, else the reason, for the log.
 */
export function nativeServing(migration: readonly string[]): string | undefined {
  if (typeof deno().listenDatagram !== "function") return "Deno runs without --unstable-net";
  if (deno().permissions.querySync({ name: "ffi" }).state !== "granted") return "Deno lacks --allow-ffi";
  try {
    openLibc();
  } catch (error) {
    return `libc's shutdown() cannot be loaded (${describeError(error)})`;
  }
  if (migration.length > 0) {
    return "net.ipv4.tcp_migrate_req is not 1 and rota cannot set it (needs root in this network namespace)";
  }
  return undefined;
}

/** The inodes of the sockets listening on `port` in this network namespace. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is hex "ADDR:PORT"; state 0A is LISTEN; the inode is the tenth field.
      if (fields.length > 9 && fields[3] === "0A" && parseInt(fields[1].split(":")[1], 16) === port) {
        inodes.add(fields[9]);
      }
    }
  }
  return inodes;
}

/**
 * The descriptors of this process's sockets listening on `port` (Deno does
 * not tell a server's descriptor; `/proc` does).
 */
function listeningDescriptors(port: number): number[] {
  const inodes = listeningInodes(port);
  const found: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${name}`));
      if (match && inodes.has(match[1])) found.push(Number(name));
    } catch {
      // Closed while we looked.
    }
  }
  return found;
}

/** One request's connection on `Deno.serve`. */
class DenoConnection implements RequestConnection {
  readonly bindings: { remoteAddr: NetAddr };
  readonly acceptWebSocket: ((acceptance: SocketAcceptance) => void) | undefined;
  /** The WebSocket the app accepted on this request. */
  accepted: SocketAcceptance | undefined;

  /** Reading `request.signal` makes `Deno.serve` warn once a response succeeds (its legacy abort). */
  readonly watchSignal = false;

  constructor(request: Request, remoteAddr: NetAddr) {
    this.bindings = { remoteAddr };
    this.acceptWebSocket = asksForWebSocket(request.headers) ? (acceptance) => (this.accepted = acceptance) : undefined;
  }

  /** `Deno.serve` gives a handler no hold on its connection; an errored body aborts the response instead. */
  cut(): boolean {
    return false;
  }

  remote(): RemoteAddress | undefined {
    const { hostname, port } = this.bindings.remoteAddr;
    return { address: hostname, port, family: familyOf(hostname) };
  }
}

/**
 * Complete the handshake of a WebSocket the app accepted.
 *
 * @returns The 101 to send, or the app's refusal, or 400 for a handshake Deno rejects.
 */
function upgrade(request: Request, acceptance: SocketAcceptance, answer: Response, open: OpenCount): Response {
  if (!answer.ok) return answer;
  void answer.body?.cancel();
  let upgraded: { socket: DenoSocket; response: Response };
  try {
    upgraded = deno().upgradeWebSocket(request, { protocol: acceptance.protocol });
  } catch {
    return new Response("not a valid WebSocket handshake", { status: 400 });
  }
  answer.headers.forEach((value, name) => {
    if (!UPGRADE_NOT_FORWARDED.has(name)) upgraded.response.headers.append(name, value);
  });
  wire(upgraded.socket, acceptance, open);
  return upgraded.response;
}

const encoder = new TextEncoder();

/** Whether a message is larger than a WebSocket takes on every runtime (a string's UTF-8 length counted only when it may be). */
function tooBig(data: string | ArrayBuffer): boolean {
  if (typeof data !== "string") return data.byteLength > MAX_MESSAGE_BYTES;
  return data.length * 3 > MAX_MESSAGE_BYTES && encoder.encode(data).byteLength > MAX_MESSAGE_BYTES;
}

/**
 * The WebSockets open on a worker's servers: `Deno.serve`'s `shutdown()`
 * would close them, so it waits until they are gone (rota closes them with
 * 1001 at the graceful timeout).
 */
class OpenCount {
  #open = 0;
  #idle: (() => void)[] = [];

  add(): void {
    this.#open++;
  }

  remove(): void {
    if (--this.#open > 0) return;
    for (const done of this.#idle.splice(0)) done();
  }

  idle(): Promise<void> {
    return this.#open === 0 ? Promise.resolve() : new Promise((done) => this.#idle.push(done));
  }
}

function wire(ws: DenoSocket, { events, protocol }: SocketAcceptance, open: OpenCount): void {
  ws.binaryType = "arraybuffer";
  open.add();
  const socket: ServerSocket = {
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    // Deno's WebSocket cannot be dropped without its closing handshake; the worker's exit ends it.
    terminate: () => ws.close(),
    get readyState() {
      return ws.readyState;
    },
    // Deno's server-side socket reports no subprotocol; the 101 carried this one.
    protocol: protocol ?? "",
    raw: ws,
  };
  ws.onopen = () => events.open(socket);
  ws.onmessage = ({ data }) => {
    // The same largest message as on Node and Bun (Deno's own limit is higher).
    if (tooBig(data)) return ws.close(1009, "message too big");
    events.message(data);
  };
  ws.onerror = (event) => events.error(event.error ?? new Error(event.message ?? "WebSocket error"));
  ws.onclose = ({ code, reason }) => {
    open.remove();
    events.close(code, reason);
  };
}

/**
 * The most a request line and its headers may take, as on Node (whose
 * `node:http` answers 431 above it); `Deno.serve` itself takes up to ~60 KiB
 * and answers 400 above (measured with Deno 2.9.6).
 */
const MAX_HEAD_BYTES = 16 * 1024;

/** Whether a request's line and headers are above {@linkcode MAX_HEAD_BYTES} (counted in UTF-16 units: near enough). */
function headTooLarge(request: Request): boolean {
  let size = request.url.length + request.method.length;
  if (size > MAX_HEAD_BYTES) return true;
  for (const [name, value] of request.headers) {
    size += name.length + value.length + 4;
    if (size > MAX_HEAD_BYTES) return true;
  }
  return false;
}

function headersTooLarge(): Response {
  return new Response(null, { status: 431, headers: { connection: "close" } });
}

/**
 * A request that asked to close its connection gets `Connection: close` from
 * `Deno.serve` already; one from rota as well would say it twice.
 */
function closingOnce(request: Request, answer: Response): Response {
  if (answer.headers.get("connection") !== "close" || request.headers.get("connection")?.toLowerCase() !== "close") {
    return answer;
  }
  try {
    answer.headers.delete("connection");
  } catch {
    // Immutable headers (a fetched Response): say it twice.
  }
  return answer;
}

/**
 * Serve on `Deno.serve` with `reusePort`, on this worker's own socket.
 *
 * @param options Address and handler.
 * @returns The listener.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
export function listenDenoServe(options: ListenOptions): Promise<Listener> {
  const { hostname, port, fetch } = options;
  const serve = (): HttpServer => {
    try {
      const server = deno().serve({
        hostname,
        port,
        reusePort: true,
        onListen() {},
        onError: () => new Response("internal error\n", { status: 500, headers: { "content-type": "text/plain" } }),
      }, async (request, { remoteAddr }) => {
        if (headTooLarge(request)) return headersTooLarge();
        const connection = new DenoConnection(request, remoteAddr);
        const answer = await fetch(request, connection);
        if (connection.accepted) return upgrade(request, connection.accepted, answer, sockets);
        return closingOnce(request, answer);
      });
      // Taking the socket out of service (below) ends Deno's accept loop with EINVAL: expected.
      server.finished.catch(() => {});
      return server;
    } catch (error) {
      throw listenError(hostname, port, error);
    }
  };
  const sockets = new OpenCount();
  // Servers out of service still answer on their connections; close() shuts them all down.
  const servers = new Set<HttpServer>();
  let current: HttpServer | undefined;
  const start = () => {
    current = serve();
    servers.add(current);
  };
  const stopAccepting = () => {
    const server = current;
    if (!server) return;
    current = undefined;
    for (const fd of listeningDescriptors(server.addr.port)) {
      if (openLibc().symbols.shutdown(fd, SHUT_RD) !== 0) {
        throw new RotaError("ERR_ROTA_LISTEN", `Cannot take the listening socket (fd ${fd}) out of service`);
      }
    }
  };
  try {
    start();
  } catch (error) {
    return Promise.reject(error);
  }
  const listener: Listener = {
    stopAccepting,
    pause: () => Promise.resolve(stopAccepting()),
    resume: () => Promise.resolve(current ? undefined : start()),
    async close() {
      stopAccepting();
      await sockets.idle();
      await Promise.all([...servers].map((server) => server.shutdown()));
    },
    // Deno.serve cannot drop its connections; the worker's exit, which follows, does.
    closeAll() {},
  };
  return Promise.resolve(listener);
}
