/**
 * The connection of a request on Bun, and WebSockets through Bun's own
 * `server.upgrade` and `websocket` handlers. The handshake happens once the
 * app's answer is known, so that the 101 carries the app's headers (a cookie
 * set by a middleware) as it does on Node and Deno.
 *
 * @module
 */

import {
  familyOf,
  type RemoteAddress,
  type RequestConnection,
  type ServerSocket,
  type SocketAcceptance,
  type SocketEvents,
} from "../../runtime/connection.ts";

/** The largest message a WebSocket takes (Bun's default, and rota's on Node and Deno): a larger one closes it with 1009. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The parts of Bun's `ServerWebSocket` this file uses. */
interface BunSocket {
  readonly data: SocketData;
  readonly readyState: 0 | 1 | 2 | 3;
  send(data: string | ArrayBuffer | Uint8Array, compress?: boolean): unknown;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** The parts of Bun's `Server` this file uses. */
export interface BunServer {
  requestIP(request: Request): { address: string; port: number; family: string } | null;
  upgrade(request: Request, options: { data: unknown; headers?: HeadersInit }): boolean;
}

/** Headers of the app's answer that the 101 must not repeat: the handshake's own, and hop-by-hop ones. */
const NOT_FORWARDED = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "upgrade",
  "te",
  "trailer",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
]);

/** What rota keeps on each of its sockets (`ws.data`). */
class SocketData {
  readonly events: SocketEvents;
  readonly protocol: string;

  constructor(acceptance: SocketAcceptance) {
    this.events = acceptance.events;
    this.protocol = acceptance.protocol ?? "";
  }
}

/**
 * One request's connection on Bun. It is also what `env.server` is for the
 * app, so that Hono's `getConnInfo` from `hono/bun` works: Bun answers
 * `requestIP` only for the very request it handed over, which rota may have
 * replaced by the time the app asks (`--request-timeout`).
 */
export class BunConnection implements RequestConnection {
  readonly bindings: { server: BunConnection };
  /** The WebSocket the app accepted on this request. */
  accepted: SocketAcceptance | undefined;
  #server: BunServer;
  #request: Request;

  constructor(server: BunServer, request: Request) {
    this.#server = server;
    this.#request = request;
    this.bindings = { server: this };
  }

  /** Bun gives a handler no hold on its connection; a failed body stream is ended with no reason instead, which Bun takes as a quiet reset. */
  cut(): boolean {
    return false;
  }

  remote(): RemoteAddress | undefined {
    const ip = this.#server.requestIP(this.#request);
    if (!ip) return undefined;
    const family = ip.family === "IPv4" || ip.family === "IPv6" ? ip.family : familyOf(ip.address);
    return { address: ip.address, port: ip.port, family };
  }

  /** As Bun's `server.requestIP`, for Hono's helpers: whichever request they pass, this one's. */
  requestIP(_request?: Request): { address: string; port: number; family: string } | null {
    return this.#server.requestIP(this.#request);
  }

  readonly acceptWebSocket = (acceptance: SocketAcceptance): void => {
    this.accepted = acceptance;
  };
}

/**
 * Complete the handshake of a WebSocket the app accepted.
 *
 * @param server Bun's server.
 * @param request The request Bun handed over.
 * @param acceptance The socket's events and subprotocol.
 * @param answer The app's answer: a refusal (not 2xx) is sent as it is.
 * @returns `undefined` once upgraded (Bun sends the 101), else the answer to send.
 */
export function upgradeAccepted(
  server: BunServer,
  request: Request,
  acceptance: SocketAcceptance,
  answer: Response,
): Response | undefined {
  if (!answer.ok) return answer;
  const headers = new Headers();
  answer.headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name)) headers.append(name, value);
  });
  if (acceptance.protocol !== undefined) headers.set("sec-websocket-protocol", acceptance.protocol);
  void answer.body?.cancel();
  if (server.upgrade(request, { data: new SocketData(acceptance), headers })) return undefined;
  return new Response("not a valid WebSocket handshake", { status: 400 });
}

function socketOf(ws: BunSocket): ServerSocket {
  return {
    send: (data, compress) => void ws.send(data, compress),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    get readyState() {
      return ws.readyState;
    },
    protocol: ws.data.protocol,
    raw: ws,
  };
}

/**
 * The `websocket` handlers for `Bun.serve`: each socket's events are on its `data`.
 *
 * @returns The handlers.
 */
export function webSocketHandlers(): {
  maxPayloadLength: number;
  open(ws: BunSocket): void;
  message(ws: BunSocket, message: string | Uint8Array): void;
  close(ws: BunSocket, code: number, reason: string): void;
} {
  return {
    maxPayloadLength: MAX_MESSAGE_BYTES,
    open: (ws) => ws.data.events.open(socketOf(ws)),
    message: (ws, message) =>
      ws.data.events.message(
        typeof message === "string"
          ? message
          : message.buffer.slice(message.byteOffset, message.byteOffset + message.byteLength) as ArrayBuffer,
      ),
    close: (ws, code, reason) => ws.data.events.close(code, reason),
  };
}
