/**
 * Serving through `node:http` with `@hono/node-server`, which turns Node's
 * request into a Web `Request` and the app's `Response` back; WebSocket
 * upgrades go through `websocket.ts` beside this file.
 *
 * @module
 */

import type { Server } from "node:http";
import { type AddressInfo, Server as NetServer } from "node:net";
import type { RemoteAddress, RequestConnection } from "../../runtime/connection.ts";
import { describeError, RotaError } from "../../runtime/errors.ts";
import type { Listener, ListenOptions } from "../../runtime/host.ts";
import { listenError } from "./process.ts";
import { refusalFailed } from "../_linux/listening_socket.ts";
import { type NodeBindings, remoteOf, serveUpgrades, shouldUpgrade } from "./websocket.ts";

type NodeServer = typeof import("@hono/node-server");

let loading: Promise<NodeServer> | undefined;

/**
 * Load `@hono/node-server`, once. Not imported at the top of this file: only
 * a worker needs it (not the supervisor, not `rota --version`, never Bun), so
 * Deno resolves it only where it is used.
 *
 * @returns The module.
 */
export function loadNodeServer(): Promise<NodeServer> {
  return loading ??= import("@hono/node-server");
}

function listenOn(server: Server, hostname: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: unknown) => reject(listenError(hostname, port, error));
    server.once("error", failed);
    server.listen(port, hostname, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

/** One request's connection, from what `@hono/node-server` hands the handler. */
class HttpConnection implements RequestConnection {
  readonly bindings: object;
  #node: NodeBindings;

  constructor(node: NodeBindings, bindings: object) {
    this.#node = node;
    this.bindings = bindings;
  }

  cut(): boolean {
    // No error: @hono/node-server then prints nothing and cancels the body when the socket closes.
    this.#node.outgoing?.destroy();
    return true;
  }

  remote(): RemoteAddress | undefined {
    return remoteOf(this.#node.incoming.socket);
  }
}

/** Options for {@linkcode listenNodeHttp}. */
export interface NodeHttpOptions {
  /**
   * What the app finds on `env` for this runtime (for Hono's own helpers),
   * from what `@hono/node-server` hands the handler.
   * @default {those, as they are: `incoming` and `outgoing`}
   */
  bindings?(node: NodeBindings): object;
  /**
   * At a full stop, before the server stops accepting: stop new handshakes on
   * the socket and wait until its queue is accepted (where the runtime has
   * FFI; Node has none, and resets what is queued at the close).
   * @default {nothing}
   */
  refuseNewHandshakes?(port: number): Promise<unknown>;
}

/**
 * Listen on the address; under `node:cluster` the primary owns the socket, so
 * a worker that stops accepting leaves it open for the others.
 *
 * @param options Address and handler.
 * @param http What the app finds on `env`.
 * @returns The listener.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
export async function listenNodeHttp(options: ListenOptions, http: NodeHttpOptions = {}): Promise<Listener> {
  const { bindings = (node: NodeBindings) => node, refuseNewHandshakes } = http;
  const { hostname, port, fetch, warn = () => {} } = options;
  let createAdaptorServer: NodeServer["createAdaptorServer"];
  try {
    ({ createAdaptorServer } = await loadNodeServer());
  } catch (error) {
    throw new RotaError(
      "ERR_ROTA_LISTEN",
      `Cannot serve HTTP as @hono/node-server cannot be loaded: ${describeError(error)}`,
      { cause: error },
    );
  }
  const server = createAdaptorServer({
    fetch: (request: Request, env: unknown) => {
      const node = env as NodeBindings;
      return fetch(request, new HttpConnection(node, bindings(node)));
    },
    // Where Node (24) and Deno ask, only WebSocket upgrades leave the ordinary request path.
    serverOptions: { shouldUpgradeCallback: shouldUpgrade } as Record<string, unknown>,
  }) as Server;
  serveUpgrades(server, fetch, bindings);
  // node:http cuts a request not received in full within 5 minutes (408), which
  // Bun does not: a slow upload must behave the same everywhere. The 60 s limit
  // on receiving the headers stays.
  server.requestTimeout = 0;
  await listenOn(server, hostname, port);
  // Settles once the server stopped accepting, and `ended` once its last connection ended too.
  let stopped: Promise<void> | undefined;
  let ended: Promise<void> = Promise.resolve();
  // net.Server's close stops accepting; http.Server's would also drop idle
  // keep-alive connections at once, racing clients about to reuse them.
  const stop = async (final: boolean) => {
    if (final && refuseNewHandshakes) {
      try {
        await refuseNewHandshakes((server.address() as AddressInfo).port);
      } catch (error) {
        warn(refusalFailed(error));
      }
    }
    ended = new Promise<void>((done) => NetServer.prototype.close.call(server, () => done()));
  };
  const stopAccepting = (final = false) => stopped ??= stop(final);
  return {
    stopAccepting,
    pause: () => stopAccepting(),
    resume: async () => {
      if (!stopped) return;
      await stopped;
      await listenOn(server, hostname, port);
      stopped = undefined;
    },
    close: async () => {
      await stopAccepting();
      server.closeIdleConnections();
      return ended;
    },
    closeAll: () => server.closeAllConnections(),
  };
}
