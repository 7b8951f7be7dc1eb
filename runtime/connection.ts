/**
 * What an adapter tells rota about one request's connection: the client's
 * address, the runtime's own bindings for Hono's helpers, and, for a request
 * that asks for a WebSocket, a way to accept it. And the runtime-neutral
 * WebSocket that an adapter hands back once the handshake is done.
 *
 * rota replaces the second argument of `fetch` (Hono's `c.env`) with its own
 * `env`, so whatever the runtime knows about the connection reaches the app
 * only through here: the connection rides on `env` under
 * {@linkcode CONNECTION}, where `getConnInfo` and `upgradeWebSocket` (rota's
 * own helpers) find it.
 *
 * @module
 */

import type { BunWebSocketHandlers } from "./app.ts";
import type { Connection } from "./worker/response_stream.ts";

/**
 * Where the connection is kept on `env`. A registered symbol, so that an app
 * holding another copy of rota's helpers (bundled into the app) still finds it.
 */
export const CONNECTION: unique symbol = Symbol.for("rota.connection");

/** The client's end of a connection, as the server's socket sees it. */
export interface RemoteAddress {
  /** The client's IP address (`127.0.0.1`, `::1`, …). */
  readonly address: string;
  /** The client's port. */
  readonly port: number;
  /** The address family, when the runtime says. */
  readonly family: "IPv4" | "IPv6" | undefined;
}

/** A server-side WebSocket, whatever the runtime's own type. */
export interface ServerSocket {
  /** Send a message: text as a string, binary as bytes. */
  send(data: string | ArrayBuffer | Uint8Array, compress?: boolean): void;
  /** Start the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Drop the connection without a closing handshake. */
  terminate(): void;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** The subprotocol the handshake agreed on, or "". */
  readonly protocol: string;
  /** The runtime's own object (`ws`'s `WebSocket`, Bun's `ServerWebSocket`). */
  readonly raw: unknown;
}

/** What happens on one WebSocket, as the adapter reports it. */
export interface SocketEvents {
  /** The handshake is done; called once, before any other. */
  open(socket: ServerSocket): void;
  /** A message: text as a string, binary as an `ArrayBuffer`. */
  message(data: string | ArrayBuffer): void;
  /** The socket closed (1005 when the peer sent no code, 1006 when the connection dropped); called once. */
  close(code: number, reason: string): void;
  /** The runtime reported an error on the socket; `close` follows. */
  error(error: unknown): void;
}

/**
 * An accepted WebSocket, before its handshake: the adapter completes it once
 * the app's answer is known (`headers`: what else the 101 carries, such as a
 * cookie a middleware set).
 */
export interface SocketAcceptance {
  /** The events of this socket. */
  readonly events: SocketEvents;
  /** The subprotocol to answer with; none when `undefined`. */
  readonly protocol: string | undefined;
}

/**
 * One request's connection, as an adapter hands it to `ListenOptions.fetch`.
 */
export interface RequestConnection extends Connection {
  /** The client's address and port, or `undefined` when the runtime cannot tell (the socket is gone). */
  remote(): RemoteAddress | undefined;
  /**
   * What this runtime's own server would hand a fetch handler as its second
   * argument, so that Hono's helpers for this runtime find what they look for
   * on `c.env` (`incoming` and `outgoing` on Node and Deno, `remoteAddr` on
   * Deno, `server` on Bun). rota adds them to `env`, under its own fields.
   */
  readonly bindings: object | undefined;
  /**
   * Take the request as a WebSocket; absent where the runtime cannot (Node
   * and Deno offer it only on upgrade requests). The handshake happens once
   * the app's response is known: when it is a 2xx its headers go with the
   * 101, otherwise it is sent instead and the socket never opens.
   */
  readonly acceptWebSocket?: (acceptance: SocketAcceptance) => void;
  /**
   * True when the runtime's server closes this connection after the answer
   * on its own and says so with a `Connection: close` of its own (some do
   * when the client asked them to): rota then adds none, which would say it
   * twice. Read only when rota closes a connection. @default {false}
   */
  readonly closesItself?: boolean;
  /**
   * False where the adapter asks rota never to read `request.signal`
   * (reading it has a side effect on that server). rota then does not stop
   * waiting for `init` when the client leaves (the wait has its own bound),
   * and a request it copies for its limits carries only rota's own signal
   * (`--request-timeout`). @default {true}
   */
  readonly watchSignal?: boolean;
}

/**
 * WebSockets an app opens through its runtime's own API instead of rota's
 * `upgradeWebSocket` (on Bun: `server.upgrade`, with the app's `websocket`
 * handlers), which the worker still counts for its drain.
 */
export interface NativeWebSockets {
  /** The app's own handlers, when it exported some. */
  readonly handlers: BunWebSocketHandlers | undefined;
  /** Whether the worker takes new WebSockets (not while it drains). */
  accepting(): boolean;
  /** Count a socket, from `open` to `close` (see `OpenSockets.track`). */
  track(events: SocketEvents): SocketEvents;
}

/**
 * What rota's helpers find on `env` under {@linkcode CONNECTION}: the
 * connection as the worker presents it to the app.
 */
export interface AppConnection {
  /** The client's address and port. */
  remote(): RemoteAddress | undefined;
  /**
   * Accept the WebSocket a request asks for.
   *
   * @returns The answer the app's `fetch` should give: a placeholder once
   * accepted (the runtime sends the 101 instead), or rota's refusal (503 while
   * the worker drains, 400 when the request cannot become a WebSocket).
   */
  acceptWebSocket(acceptance: SocketAcceptance): Response;
}

/**
 * Whether a request asks to become a WebSocket (`Upgrade: websocket`).
 *
 * @param headers The request's headers.
 * @returns True for a WebSocket upgrade.
 */
export function asksForWebSocket(headers: Headers): boolean {
  return headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * The address family of an IP address written out.
 *
 * @param address An IPv4 or IPv6 address.
 * @returns `IPv6` when it has a colon, else `IPv4`.
 */
export function familyOf(address: string): "IPv4" | "IPv6" {
  return address.includes(":") ? "IPv6" : "IPv4";
}

/**
 * Headers of the app's answer that a 101 (a WebSocket accepted) must not
 * repeat: the handshake's own, and hop-by-hop ones. Every adapter filters by it.
 */
export const UPGRADE_NOT_FORWARDED: ReadonlySet<string> = new Set([
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

/** The largest message a WebSocket takes on every runtime (Bun's default): a larger one closes it with 1009. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
