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
import { delay } from "../../runtime/_async.ts";
import { describeError } from "../../runtime/errors.ts";
import type { Listener, ListenOptions } from "../../runtime/host.ts";
import { listenError } from "../_node/process.ts";

interface NetAddr {
  readonly hostname: string;
  readonly port: number;
  readonly transport: string;
}

interface ServeInfo {
  readonly remoteAddr: NetAddr;
  /** Settles once the response was sent in full, or could not be. */
  readonly completed: Promise<void>;
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
  symbols: {
    shutdown(fd: number, how: number): number;
    setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  };
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
    handler: (request: Request, info: ServeInfo) => Promise<Response>,
  ): HttpServer;
  upgradeWebSocket(request: Request, options: { protocol?: string }): { socket: DenoSocket; response: Response };
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): Library;
  UnsafePointer: { of(buffer: Uint8Array): unknown; value(pointer: unknown): number | bigint };
  listenDatagram?: unknown;
  permissions: { querySync(descriptor: { name: string }): { state: string } };
}

const deno = (): DenoServeApi => (globalThis as unknown as { Deno: DenoServeApi }).Deno;

const SHUT_RD = 0;
/** How soon a worker listens again after its socket stopped accepting on its own. */
const RELISTEN_MS = 1000;
/** How long a drain waits for `Deno.serve`'s `shutdown()` once nothing is under way (it may never resolve). */
const SHUTDOWN_HANG_MS = 1000;
/** The longest a full stop waits for a listening socket's queue to empty once no new handshake starts. */
const QUEUE_EMPTY_MS = 200;
const LIBC = "libc.so.6";

let libc: Library | undefined;

function openLibc(): Library {
  return libc ??= deno().dlopen(LIBC, {
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  });
}

/**
 * Whether Deno workers can serve on `Deno.serve` without losing a connection
 * at a drain, and if not, why.
 *
 * @param ensureMigration Makes sure `tcp_migrate_req` is 1, returning warnings when it cannot; asked last, so
 * that the sysctl is not changed when something else is missing.
 * @returns `undefined` when they can, else the reason, for the log.
 */
export function nativeServing(ensureMigration: () => readonly string[]): string | undefined {
  if (typeof deno().listenDatagram !== "function") return "Deno runs without --unstable-net";
  if (deno().permissions.querySync({ name: "ffi" }).state !== "granted") return "Deno lacks --allow-ffi";
  try {
    openLibc();
  } catch (error) {
    return `libc's shutdown() cannot be loaded (${describeError(error)})`;
  }
  const [problem] = ensureMigration();
  if (problem !== undefined) {
    return problem.startsWith("cannot read")
      ? "net.ipv4.tcp_migrate_req cannot be read"
      : "net.ipv4.tcp_migrate_req is not 1 and rota cannot set it (needs root in this network namespace)";
  }
  return undefined;
}

/** One row of `/proc/net/tcp{,6}`: local port, state, queue length and inode. */
interface SocketRow {
  readonly port: number;
  readonly listening: boolean;
  /** For a listening socket, the connections in its accept queue. */
  readonly queued: number;
  readonly inode: string;
}

/** The TCP sockets of this network namespace, as `/proc` lists them. */
function socketRows(): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // local_address is hex "ADDR:PORT", state 0A is LISTEN, tx_queue:rx_queue, and the inode is the tenth field.
      const fields = line.trim().split(/\s+/);
      if (fields.length <= 9) continue;
      rows.push({
        port: parseInt(fields[1].split(":")[1], 16),
        listening: fields[3] === "0A",
        queued: parseInt(fields[4].split(":")[1], 16),
        inode: fields[9],
      });
    }
  }
  return rows;
}

/** One of this process's listening sockets. */
interface ListeningSocket {
  readonly fd: number;
  readonly inode: string;
}

/**
 * This process's sockets listening on `port` (Deno does not tell a server's
 * descriptor; `/proc` does).
 */
function listeningSockets(port: number): ListeningSocket[] {
  const inodes = new Set(socketRows().filter((row) => row.listening && row.port === port).map((row) => row.inode));
  const found: ListeningSocket[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${name}`));
      if (match && inodes.has(match[1])) found.push({ fd: Number(name), inode: match[1] });
    } catch {
      // Closed while we looked.
    }
  }
  return found;
}

/** How many connections wait in a listening socket's accept queue. */
function queuedOn(inode: string): number {
  return socketRows().find((row) => row.inode === inode)?.queued ?? 0;
}

const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;

/**
 * A classic BPF socket filter that drops TCP segments with SYN set and keeps
 * the rest: on a listening socket, no new handshake starts, and those under
 * way complete (their last ACK has no SYN). A filter on a TCP socket sees the
 * TCP header at offset 0; byte 13 holds the flags.
 */
const DROP_SYN = [
  [0x30, 0, 0, 13], // ldb [13]
  [0x45, 0, 1, 0x02], // jset #SYN, drop, keep
  [0x06, 0, 0, 0], // drop: ret #0
  [0x06, 0, 0, 0xffffffff], // keep: ret #-1
] as const;

/** Attach {@linkcode DROP_SYN} to a socket; false when the system refuses. */
function dropNewHandshakes(fd: number): boolean {
  const program = new Uint8Array(DROP_SYN.length * 8);
  const code = new DataView(program.buffer);
  DROP_SYN.forEach(([op, jt, jf, k], i) => {
    code.setUint16(i * 8, op, true);
    code.setUint8(i * 8 + 2, jt);
    code.setUint8(i * 8 + 3, jf);
    code.setUint32(i * 8 + 4, k, true);
  });
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } on a 64-bit system.
  const fprog = new Uint8Array(16);
  const header = new DataView(fprog.buffer);
  header.setUint16(0, DROP_SYN.length, true);
  header.setBigUint64(8, BigInt(deno().UnsafePointer.value(deno().UnsafePointer.of(program))), true);
  return openLibc().symbols.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.byteLength) === 0;
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
    // The subprotocol is set below: Deno checks it against the offered list split on ", " only, and
    // refuses "a,b", which RFC 6455 allows.
    upgraded = deno().upgradeWebSocket(request, {});
  } catch {
    return new Response("not a valid WebSocket handshake", { status: 400 });
  }
  const headers = upgraded.response.headers;
  answer.headers.forEach((value, name) => {
    if (!UPGRADE_NOT_FORWARDED.has(name)) headers.append(name, value);
  });
  if (acceptance.protocol !== undefined) headers.set("sec-websocket-protocol", acceptance.protocol);
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
 * A count of things under way (requests being answered, open WebSockets),
 * and a wait for the moment there are none.
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

  get size(): number {
    return this.#open;
  }

  idle(): Promise<void> {
    return this.#open === 0 ? Promise.resolve() : new Promise((done) => this.#idle.push(done));
  }
}

function wire(ws: DenoSocket, { events, protocol }: SocketAcceptance, open: OpenCount): void {
  ws.binaryType = "arraybuffer";
  const socket: ServerSocket = {
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    // Deno's WebSocket cannot be dropped without its closing handshake: a peer that never answers it keeps
    // the socket until the worker exits, which follows the graceful timeout.
    terminate: () => ws.close(),
    get readyState() {
      return ws.readyState;
    },
    // Deno's server-side socket reports no subprotocol; the 101 carried this one.
    protocol: protocol ?? "",
    raw: ws,
  };
  // Counted from its open: a handshake whose client left before the 101 never opens, and never closes either.
  let opened = false;
  ws.onopen = () => {
    opened = true;
    open.add();
    events.open(socket);
  };
  ws.onmessage = ({ data }) => {
    // The same largest message as on Node and Bun (Deno's own limit is higher).
    if (tooBig(data)) return ws.close(1009, "message too big");
    events.message(data);
  };
  ws.onerror = (event) => events.error(event.error ?? new Error(event.message ?? "WebSocket error"));
  ws.onclose = ({ code, reason }) => {
    if (opened) open.remove();
    // Deno reports a dropped connection as 0; rota's contract (and the other runtimes) say 1006.
    events.close(code === 0 ? 1006 : code, reason);
  };
}

/**
 * A request that asked to close its connection gets `Connection: close` from
 * `Deno.serve` already; one from rota as well would say it twice.
 */
function closingOnce(request: Request, answer: Response): Response {
  // The request first: reading a response's headers takes it off Deno's fast path.
  if (request.headers.get("connection")?.toLowerCase() !== "close") return answer;
  if (answer.headers.get("connection")?.toLowerCase() !== "close") return answer;
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
  const { hostname, port, fetch, warn = () => {} } = options;
  // Requests from their start until their response was sent, and open WebSockets: Deno's shutdown() never
  // resolves after a WebSocket handshake whose client left before the 101 (Deno 2.9.6), so close() also
  // resolves once neither is left.
  const requests = new OpenCount();
  const sockets = new OpenCount();
  const answer = async (request: Request, info: ServeInfo): Promise<Response> => {
    requests.add();
    let upgraded = false;
    try {
      const connection = new DenoConnection(request, info.remoteAddr);
      const response = await fetch(request, connection);
      if (!connection.accepted) return closingOnce(request, response);
      upgraded = true;
      return upgrade(request, connection.accepted, response, sockets);
    } finally {
      // A WebSocket is counted from its open instead.
      if (upgraded) requests.remove();
      else info.completed.then(() => requests.remove(), () => requests.remove());
    }
  };
  // Servers out of service still answer on their connections; close() shuts them all down.
  const servers = new Set<HttpServer>();
  let current: HttpServer | undefined;
  let closing = false;
  const serve = (): HttpServer => {
    let server: HttpServer;
    try {
      server = deno().serve({
        hostname,
        port,
        reusePort: true,
        onListen() {},
        onError: () => new Response("internal error\n", { status: 500, headers: { "content-type": "text/plain" } }),
      }, answer);
    } catch (error) {
      throw listenError(hostname, port, error);
    }
    // Taking the socket out of service (stopAccepting) ends Deno's accept loop with EINVAL: expected.
    // Any other end (EMFILE) closes the socket: listen again, as libuv would keep accepting.
    server.finished.then(undefined, (error) => {
      if (current !== server) return;
      current = undefined;
      warn(`the listening socket stopped accepting (${describeError(error)}); listening again`);
      relisten();
    });
    servers.add(server);
    return server;
  };
  const relisten = () => {
    setTimeout(() => {
      if (closing || current) return;
      try {
        current = serve();
      } catch (error) {
        warn(`cannot listen again (${describeError(error)}); retrying in 1s`);
        relisten();
      }
    }, RELISTEN_MS);
  };
  // Resolves once no request nor WebSocket has been under way for SHUTDOWN_HANG_MS (`completed` may
  // settle before the last bytes left; the wait lets them go before the worker exits).
  const quiet = async () => {
    for (;;) {
      await requests.idle();
      await sockets.idle();
      await delay(SHUTDOWN_HANG_MS);
      if (requests.size === 0 && sockets.size === 0) return;
    }
  };
  const stopAccepting = async (final = false) => {
    const server = current;
    if (!server) return;
    current = undefined;
    try {
      const sockets = listeningSockets(server.addr.port);
      if (sockets.length === 0) throw new Error("no listening socket found in /proc/self/fd");
      // At a full stop no sibling takes this socket's queue: stop new handshakes first, and take out of
      // service only once Deno has accepted every connection already queued (those refused meanwhile see a
      // refusal after their SYN's retransmission, as after the close; none is reset).
      if (final && sockets.every(({ fd }) => dropNewHandshakes(fd))) {
        const until = Date.now() + QUEUE_EMPTY_MS;
        while (Date.now() < until && sockets.some(({ inode }) => queuedOn(inode) > 0)) await delay(2);
      }
      for (const { fd } of sockets) {
        if (openLibc().symbols.shutdown(fd, SHUT_RD) !== 0) throw new Error(`shutdown(${fd}, SHUT_RD) failed`);
      }
    } catch (error) {
      // Deno's own shutdown still stops the socket; it may drop connections accepted and not yet read.
      warn(`cannot take the listening socket out of service (${describeError(error)}); shutting the server down`);
      void server.shutdown();
    }
  };
  try {
    current = serve();
  } catch (error) {
    return Promise.reject(error);
  }
  const listener: Listener = {
    stopAccepting,
    pause: () => stopAccepting(),
    resume: () => Promise.resolve(current ? undefined : void (current = serve())),
    async close() {
      closing = true;
      await stopAccepting();
      await sockets.idle();
      await Promise.race([Promise.all([...servers].map((server) => server.shutdown())), quiet()]);
    },
    // Deno.serve cannot drop its connections; the worker's exit, which follows, does.
    closeAll() {},
  };
  return Promise.resolve(listener);
}
