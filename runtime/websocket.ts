/**
 * `upgradeWebSocket`: WebSockets in a Hono app, the same on every runtime,
 * in the manner of Hono's own adapters (`hono/bun`, `hono/deno`,
 * `@hono/node-ws`): the same `createEvents` callback, the same `WSContext`.
 * The runtime's side (Bun's `server.upgrade`; `ws` on `node:http`'s upgrade
 * for Node and Deno) is the adapter's, reached through the connection rota
 * puts on `env`.
 *
 * Hono's `WSContext` is loaded from `hono/ws` at the first upgrade, so that
 * importing rota never needs Hono.
 *
 * @module
 */

import type { Context } from "hono";
import type { UpgradeWebSocket as HonoUpgradeWebSocket, WSContext, WSEvents, WSMessageReceive } from "hono/ws";
import { asksForWebSocket, type ServerSocket, type SocketEvents } from "./connection.ts";
import { connectionOf } from "./conn_info.ts";

/**
 * Hono's own type for a WebSocket helper (`hono/ws`), with rota's options:
 * the same as `upgradeWebSocket` from `hono/bun` or `@hono/node-ws`.
 *
 * @internal
 */
export type UpgradeWebSocket = HonoUpgradeWebSocket<unknown, UpgradeWebSocketOptions>;

/** Options for {@linkcode upgradeWebSocket}. */
export interface UpgradeWebSocketOptions {
  /**
   * The subprotocol to answer with (`Sec-WebSocket-Protocol`).
   * @default {the first one the client offers}
   */
  protocol?: string;
}

type HonoWs = typeof import("hono/ws");

let honoWs: Promise<HonoWs> | undefined;

async function loadHonoWs(): Promise<HonoWs> {
  const module = await (honoWs ??= import("hono/ws"));
  if (typeof module.WSContext !== "function") {
    throw new Error("rota's upgradeWebSocket needs hono 4.7 or later: its hono/ws has no WSContext class");
  }
  return module;
}

/** A `CloseEvent` where the runtime has one (Node 20 has none). */
function closeEvent(code: number, reason: string): CloseEvent {
  const init = { code, reason, wasClean: code !== 1006 };
  if (typeof CloseEvent === "function") return new CloseEvent("close", init);
  return Object.assign(new Event("close"), init) as CloseEvent;
}

/** An `ErrorEvent` where the runtime has one (Node has none), carrying `error`. */
function errorEvent(error: unknown): Event {
  const message = error instanceof Error ? error.message : String(error);
  if (typeof ErrorEvent === "function") return new ErrorEvent("error", { error, message });
  return Object.assign(new Event("error"), { error, message });
}

type Handler<E extends Event> = ((event: E, ws: WSContext) => unknown) | undefined;

/** The app's Hono events, as the runtime-neutral events an adapter reports to. */
function socketEvents(c: Context, events: WSEvents, WSContextClass: HonoWs["WSContext"]): SocketEvents {
  let context: WSContext | undefined;
  const url = new URL(c.req.url);
  const run = <E extends Event>(handler: Handler<E>, event: E): unknown => {
    if (!handler) return undefined;
    // A handler that fails goes to the app's onError when it has one; otherwise rota logs it.
    const failed = (error: unknown): unknown => {
      if (!events.onError || (handler as unknown) === events.onError) throw error;
      return events.onError(errorEvent(error), context!);
    };
    try {
      const result = handler(event, context!) as { then?: unknown } | undefined;
      return typeof result?.then === "function" ? (result as Promise<unknown>).catch(failed) : result;
    } catch (error) {
      return failed(error);
    }
  };
  return {
    open(socket: ServerSocket) {
      context = new WSContextClass({
        send: (data, options) => socket.send(data, options?.compress),
        close: (code, reason) => socket.close(code, reason),
        raw: socket.raw,
        get readyState() {
          return socket.readyState;
        },
        url,
        protocol: socket.protocol,
      });
      run(events.onOpen, new Event("open"));
    },
    message: (data) => void run(events.onMessage, new MessageEvent<WSMessageReceive>("message", { data })),
    close: (code, reason) => void run(events.onClose, closeEvent(code, reason)),
    error: (error) => void run(events.onError, errorEvent(error)),
  };
}

/**
 * Turn one request into a WebSocket, or answer `undefined` when it does not ask for one.
 */
async function upgrade(
  c: Context,
  createEvents: (c: Context) => WSEvents | Promise<WSEvents>,
  options: UpgradeWebSocketOptions | undefined,
): Promise<Response | undefined> {
  const connection = connectionOf(c.env, "upgradeWebSocket");
  if (!asksForWebSocket(c.req.raw.headers)) return undefined;
  const [{ WSContext }, events] = await Promise.all([loadHonoWs(), createEvents(c)]);
  const offered = c.req.header("sec-websocket-protocol")?.split(",").map((p) => p.trim()).filter(Boolean);
  return connection.acceptWebSocket({
    events: socketEvents(c, events, WSContext),
    protocol: options?.protocol ?? offered?.[0],
  });
}

/**
 * Answer a request with a WebSocket, on every runtime rota runs on. As
 * middleware, a request that does not ask for a WebSocket goes on to the next
 * handler; called with a context and events, it returns the answer (and
 * throws when the request cannot be upgraded).
 *
 * A draining worker keeps its WebSockets open until the graceful timeout,
 * then closes them with 1001 (going away); an upgrade that reaches a draining
 * worker gets a 503. A handler that throws goes to `onError` when there is
 * one, to rota's log otherwise.
 *
 * @param createEvents Called for each upgrade request: returns the handlers
 * `onOpen`, `onMessage` (text as a string, binary as an `ArrayBuffer`),
 * `onClose` and `onError`, each given the event and a `WSContext`.
 * @param options `protocol`: the subprotocol to answer with.
 * @returns A Hono middleware.
 * @throws {TypeError} When the request did not come through rota.
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "rota";
 *
 * const app = new Hono();
 * app.get("/ws", upgradeWebSocket(() => ({
 *   onMessage(event, ws) {
 *     ws.send(`echo: ${event.data}`);
 *   },
 * })));
 * ```
 */
export const upgradeWebSocket: UpgradeWebSocket = ((...args: unknown[]) => {
  if (typeof args[0] === "function") {
    const [createEvents, options] = args as [(c: Context) => WSEvents | Promise<WSEvents>, UpgradeWebSocketOptions?];
    return async (c: Context, next: () => Promise<void>) => {
      const answer = await upgrade(c, createEvents, options);
      if (answer) return answer;
      await next();
    };
  }
  const [c, events, options] = args as [Context, WSEvents, UpgradeWebSocketOptions?];
  return (async () => {
    const answer = await upgrade(c, () => events, options);
    if (!answer) throw new TypeError("Cannot upgrade to a WebSocket as the request does not ask for one");
    return answer;
  })();
}) as UpgradeWebSocket;
