/**
 * The connection of a request on Bun, and WebSockets through Bun's own
 * `server.upgrade` and `websocket` handlers. For rota's `upgradeWebSocket`
 * the handshake happens once the app's answer is known, so that the 101
 * carries the app's headers (a cookie set by a middleware) as it does on Node
 * and Deno.
 *
 * An app written for Bun may also upgrade through `env.server.upgrade` (as
 * `upgradeWebSocket` from `hono/bun` does) when it exports Bun's `websocket`
 * handlers (`export default { fetch: app.fetch, websocket }`): its sockets
 * then go to its own handlers, and are counted for the drain all the same.
 *
 * @module
 */

import type { BunWebSocketHandlers } from "../../runtime/app.ts";
import {
  familyOf,
  MAX_MESSAGE_BYTES,
  type NativeWebSockets,
  type RemoteAddress,
  type RequestConnection,
  type ServerSocket,
  type SocketAcceptance,
  type SocketEvents,
  UPGRADE_NOT_FORWARDED,
} from "../../runtime/connection.ts";

/** The parts of Bun's `ServerWebSocket` this file uses. */
interface BunSocket {
  readonly data: unknown;
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
  #native: NativeWebSockets | undefined;

  constructor(server: BunServer, request: Request, native: NativeWebSockets | undefined) {
    this.#server = server;
    this.#request = request;
    this.#native = native;
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

  /**
   * As Bun's `server.upgrade`, for an app that upgrades by itself: its
   * sockets go to the `websocket` handlers it exports.
   *
   * @returns False while the worker drains (as Bun says when it did not upgrade).
   * @throws {TypeError} When the app exports no `websocket` handlers.
   */
  upgrade(_request: Request, options: { data?: unknown; headers?: HeadersInit } = {}): boolean {
    if (!this.#native?.handlers) {
      throw new TypeError(
        "Cannot upgrade through Bun's server.upgrade as the app exports no websocket handlers: export default { fetch, websocket } (websocket from hono/bun), or use upgradeWebSocket from rota",
      );
    }
    if (!this.#native.accepting()) return false;
    return this.#server.upgrade(this.#request, { data: options.data, headers: options.headers });
  }
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
    if (!UPGRADE_NOT_FORWARDED.has(name)) headers.append(name, value);
  });
  if (acceptance.protocol !== undefined) headers.set("sec-websocket-protocol", acceptance.protocol);
  void answer.body?.cancel();
  if (server.upgrade(request, { data: new SocketData(acceptance), headers })) return undefined;
  return new Response("not a valid WebSocket handshake", { status: 400 });
}

function socketOf(ws: BunSocket, protocol: string): ServerSocket {
  return {
    send: (data, compress) => void ws.send(data, compress),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    get readyState() {
      return ws.readyState;
    },
    protocol,
    raw: ws,
  };
}

/** The app's own sockets are only counted: their events go to its own handlers. */
const COUNTED_ONLY: SocketEvents = { open() {}, message() {}, close() {}, error() {} };

/** The handlers `Bun.serve` takes. */
export interface BunHandlers {
  maxPayloadLength: number;
  open(ws: BunSocket): void;
  message(ws: BunSocket, message: string | Uint8Array): void;
  close(ws: BunSocket, code: number, reason: string): void;
  drain(ws: BunSocket): void;
}

/**
 * The `websocket` handlers for `Bun.serve`: rota's sockets carry their events
 * on their `data`; the others are the app's, for its own handlers.
 *
 * @param native The app's own handlers, and how the worker counts sockets.
 * @returns The handlers.
 */
export function webSocketHandlers(native: NativeWebSockets | undefined): BunHandlers {
  const app = (native?.handlers ?? {}) as {
    [K in keyof BunWebSocketHandlers]-?: ((ws: BunSocket, ...rest: unknown[]) => unknown) | undefined;
  };
  const counted = new WeakMap<BunSocket, SocketEvents>();
  return {
    maxPayloadLength: MAX_MESSAGE_BYTES,
    open(ws) {
      if (ws.data instanceof SocketData) return ws.data.events.open(socketOf(ws, ws.data.protocol));
      if (native) {
        const events = native.track(COUNTED_ONLY);
        counted.set(ws, events);
        events.open(socketOf(ws, ""));
      }
      app.open?.(ws);
    },
    message(ws, message) {
      if (!(ws.data instanceof SocketData)) return void app.message?.(ws, message);
      ws.data.events.message(
        typeof message === "string"
          ? message
          : message.buffer.slice(message.byteOffset, message.byteOffset + message.byteLength) as ArrayBuffer,
      );
    },
    close(ws, code, reason) {
      if (ws.data instanceof SocketData) return ws.data.events.close(code, reason);
      counted.get(ws)?.close(code, reason);
      app.close?.(ws, code, reason);
    },
    drain(ws) {
      if (!(ws.data instanceof SocketData)) app.drain?.(ws);
    },
  };
}
