/**
 * The `env` one request sees (Hono: `c.env`): rota's own fields (`state`,
 * `config`, `worker`, `waitUntil`) over the bindings the runtime's own server
 * would have handed the app (so that Hono's helpers for that runtime find
 * them), and the request's connection under {@linkcode CONNECTION} for
 * rota's `getConnInfo` and `upgradeWebSocket`. A WebSocket accepted through
 * it is counted among the worker's open sockets; a draining worker refuses
 * new ones.
 *
 * @module
 */

import type { ConfigView, Env, WorkerInfo } from "../app.ts";
import {
  type AppConnection,
  CONNECTION,
  type RemoteAddress,
  type RequestConnection,
  type SocketAcceptance,
} from "../connection.ts";
import type { OpenSockets } from "./web_sockets.ts";

/** What every request of a worker shares. */
export interface WorkerEnv {
  /** The shared configuration. */
  readonly config: ConfigView;
  /** Who is answering. */
  readonly worker: WorkerInfo;
  /** `waitUntil` for this worker. */
  waitUntil(promise: Promise<unknown>): void;
  /** The worker's open WebSockets. */
  readonly sockets: Pick<OpenSockets, "track">;
  /** Whether new WebSockets are taken (not while the worker drains). */
  acceptsWebSockets(): boolean;
}

/**
 * The answer to a WebSocket upgrade that reaches a draining worker (on a
 * keep-alive connection, or on Bun while its listener is still open): the
 * socket would be closed at the graceful timeout, so the client is better
 * off trying again at once, on a connection that reaches another worker.
 *
 * @returns A JSON 503 with `Retry-After` and `Connection: close`.
 */
export function refusedWhileDraining(): Response {
  return Response.json({ error: "unavailable", reason: "draining" }, {
    status: 503,
    headers: { "retry-after": "1", "cache-control": "no-store", connection: "close" },
  });
}

/**
 * Build the `env` of one request.
 *
 * @param shared What every request of the worker shares.
 * @param state What `init` returned.
 * @param connection The request's connection, when the adapter gave one.
 * @returns The `env` for the app's `fetch`.
 * @example
 * ```ts
 * const env = requestEnv(shared, state, connection);
 * await app.fetch(request, env, context);
 * ```
 */
export function requestEnv(shared: WorkerEnv, state: unknown, connection: RequestConnection | undefined): Env {
  const env: Record<PropertyKey, unknown> = {
    state,
    config: shared.config,
    worker: shared.worker,
    waitUntil: shared.waitUntil,
    [CONNECTION]: connection && new ConnectionView(shared, connection),
  };
  // Copied key by key, not spread into the literal: the spread cost Node 20 ~40 % of its requests per second
  // (61k → 37k on one worker, `npm run bench`), the object it builds being slow for everything after.
  const bindings = connection?.bindings as Record<string, unknown> | undefined;
  if (bindings) {
    for (const key in bindings) if (!(key in env)) env[key] = bindings[key];
  }
  return env as unknown as Env;
}

/** The connection as the app's helpers see it: its address, and WebSockets counted by the worker. */
class ConnectionView implements AppConnection {
  #shared: WorkerEnv;
  #connection: RequestConnection;

  constructor(shared: WorkerEnv, connection: RequestConnection) {
    this.#shared = shared;
    this.#connection = connection;
  }

  remote(): RemoteAddress | undefined {
    return this.#connection.remote();
  }

  acceptWebSocket(acceptance: SocketAcceptance): Response {
    const accept = this.#connection.acceptWebSocket;
    if (!accept) return new Response("this server cannot take a WebSocket on this request", { status: 400 });
    if (!this.#shared.acceptsWebSockets()) return refusedWhileDraining();
    accept({ events: this.#shared.sockets.track(acceptance.events), protocol: acceptance.protocol });
    // Not sent: the runtime answers 101 instead, with this response's headers.
    return new Response(null);
  }
}
