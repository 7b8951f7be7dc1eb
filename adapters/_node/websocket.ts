/**
 * WebSockets on `node:http`, for Node and Deno workers: the server's
 * `upgrade` event runs the request through rota like any other, and when the
 * app accepted a WebSocket, the `ws` package completes the handshake on the
 * raw socket (Deno's `node:http` hands over the same socket, and `ws` was
 * checked to work on it). An upgrade the app refused gets the app's answer
 * written on the socket, which then closes.
 *
 * On Node 24 and Deno, `shouldUpgradeCallback` keeps other upgrades (such
 * as `h2c`) on the ordinary request path, body and all; Node 20 has no such
 * option and sends every upgrade request here, where it is answered through
 * the app without its body.
 *
 * `ws` is loaded at the first WebSocket, never before.
 *
 * @module
 */

import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import {
  asksForWebSocket,
  familyOf,
  MAX_MESSAGE_BYTES,
  type RemoteAddress,
  type RequestConnection,
  type ServerSocket,
  type SocketAcceptance,
  type SocketEvents,
  UPGRADE_NOT_FORWARDED,
} from "../../runtime/connection.ts";
import type { ListenOptions } from "../../runtime/host.ts";

/** What `@hono/node-server` hands a fetch handler as its second argument. */
export interface NodeBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: { destroy(): unknown } | undefined;
}

/** The parts of `ws` this file uses. */
interface WsSocket {
  binaryType: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly protocol: string;
  send(data: string | ArrayBuffer | Uint8Array, options: { compress?: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "message", listener: (data: ArrayBuffer, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
}

interface WsServer {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WsSocket) => void): void;
  on(event: "headers", listener: (headers: string[], request: IncomingMessage) => void): void;
}

interface WsModule {
  WebSocketServer: new (options: {
    noServer: true;
    maxPayload: number;
    handleProtocols(protocols: Set<string>, request: IncomingMessage): string | false;
  }) => WsServer;
}

/**
 * The client's end of a socket.
 *
 * @param socket The connection's socket.
 * @returns Its remote address, or `undefined` once the socket is gone.
 */
export function remoteOf(socket: Socket): RemoteAddress | undefined {
  const address = socket.remoteAddress;
  const port = socket.remotePort;
  if (address === undefined || port === undefined) return undefined;
  const family = socket.remoteFamily;
  return { address, port, family: family === "IPv4" || family === "IPv6" ? family : familyOf(address) };
}

/**
 * Which upgrade requests go to the `upgrade` event (where Node and Deno ask):
 * WebSocket ones only.
 *
 * @param request The request.
 * @returns True for `Upgrade: websocket`.
 */
export function shouldUpgrade(request: IncomingMessage): boolean {
  return request.headers.upgrade?.toLowerCase() === "websocket";
}

/** The WebSocket server of one `node:http` server, loaded on first use. */
class WebSockets {
  #server: Promise<WsServer> | undefined;
  /** The subprotocol each pending handshake answers with. */
  #protocols = new WeakMap<IncomingMessage, string>();
  /** The app's headers each pending handshake adds. */
  #headers = new WeakMap<IncomingMessage, string[]>();

  #load(): Promise<WsServer> {
    return this.#server ??= import("ws").then((module) => {
      const { WebSocketServer } = module as unknown as WsModule;
      const server = new WebSocketServer({
        noServer: true,
        maxPayload: MAX_MESSAGE_BYTES,
        handleProtocols: (_offered, request) => this.#protocols.get(request) ?? false,
      });
      server.on("headers", (headers, request) => headers.push(...(this.#headers.get(request) ?? [])));
      return server;
    });
  }

  /** Complete the handshake of an accepted WebSocket, then report its life to `acceptance.events`. */
  async open(
    incoming: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    acceptance: SocketAcceptance,
    answer: Response,
  ): Promise<void> {
    const server = await this.#load();
    if (acceptance.protocol !== undefined) this.#protocols.set(incoming, acceptance.protocol);
    const extra: string[] = [];
    answer.headers.forEach((value, name) => {
      if (!UPGRADE_NOT_FORWARDED.has(name)) extra.push(`${name}: ${value}`);
    });
    this.#headers.set(incoming, extra);
    // A handshake ws finds invalid is answered 400 by ws, and never opens.
    server.handleUpgrade(incoming, socket, head, (ws) => wire(ws, acceptance.events));
  }
}

const text = new TextDecoder();

function wire(ws: WsSocket, events: SocketEvents): void {
  ws.binaryType = "arraybuffer";
  const socket: ServerSocket = {
    send: (data, compress) => ws.send(data, { compress }),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    get readyState() {
      return ws.readyState;
    },
    get protocol() {
      return ws.protocol;
    },
    raw: ws,
  };
  // Listeners first: an error event with no listener would end the process.
  ws.on("message", (data, isBinary) => events.message(isBinary ? data : text.decode(data)));
  ws.on("error", (error) => events.error(error));
  ws.on("close", (code, reason) => events.close(code, text.decode(reason)));
  events.open(socket);
}

/** The request an upgrade asks for, as a Web `Request` (no body: an upgrade request has none). */
function requestOf(incoming: IncomingMessage): Request {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const url = new URL(incoming.url ?? "/", `http://${incoming.headers.host ?? "localhost"}`);
  return new Request(url, { method: incoming.method, headers });
}

/** Write an answer on a raw socket as an HTTP/1.1 response, then close it. */
async function writeAnswer(socket: Duplex, answer: Response): Promise<void> {
  const body = answer.body ? new Uint8Array(await answer.arrayBuffer()) : new Uint8Array();
  // Loaded here, not at the top: Bun's worker and supervisor reach this file (the admin listener) but never serve
  // through node:http, which costs a Bun process ~10 ms and ~9 MB to load.
  const { STATUS_CODES } = await import("node:http");
  const lines = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ""}`];
  answer.headers.forEach((value, name) => {
    if (!UPGRADE_NOT_FORWARDED.has(name)) lines.push(`${name}: ${value}`);
  });
  lines.push("connection: close", `content-length: ${body.byteLength}`, "", "");
  if (socket.destroyed) return;
  socket.write(lines.join("\r\n"));
  socket.end(body);
}

/**
 * Answer the upgrade requests of `server` through rota.
 *
 * @param server The `node:http` server.
 * @param fetch rota's handler.
 * @param bindings What the app finds on `env` for this runtime, from `@hono/node-server`'s own.
 */
export function serveUpgrades(
  server: Server,
  fetch: ListenOptions["fetch"],
  bindings: (node: NodeBindings) => object,
): void {
  const webSockets = new WebSockets();
  server.on("upgrade", (incoming: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A reset on a raw socket is an error event, which would end the process unheard.
    socket.on("error", () => {});
    void answerUpgrade(incoming, socket, head, fetch, bindings, webSockets).catch(() => socket.destroy());
  });
}

async function answerUpgrade(
  incoming: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  fetch: ListenOptions["fetch"],
  bindings: (node: NodeBindings) => object,
  webSockets: WebSockets,
): Promise<void> {
  let request: Request;
  try {
    request = requestOf(incoming);
  } catch {
    return writeAnswer(socket, new Response(null, { status: 400 }));
  }
  let accepted: SocketAcceptance | undefined;
  const connection: RequestConnection = {
    bindings: bindings({ incoming, outgoing: undefined }),
    cut: () => {
      socket.destroy();
      return true;
    },
    remote: () => remoteOf(incoming.socket),
    acceptWebSocket: asksForWebSocket(request.headers) ? (acceptance) => (accepted = acceptance) : undefined,
  };
  const answer = await fetch(request, connection);
  if (socket.destroyed) {
    await answer.body?.cancel();
    return;
  }
  if (accepted === undefined || !answer.ok) return writeAnswer(socket, answer);
  await answer.body?.cancel();
  await webSockets.open(incoming, socket, head, accepted, answer);
}
