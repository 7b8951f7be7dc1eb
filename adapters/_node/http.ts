/**
 * Serving through `node:http` with `@hono/node-server`, which turns Node's
 * request into a Web `Request` and the app's `Response` back.
 *
 * @module
 */

import type { Server } from "node:http";
import { Server as NetServer } from "node:net";
import { describeError, RotaError } from "../../runtime/errors.ts";
import type { Listener, ListenOptions } from "../../runtime/host.ts";
import { listenError } from "./process.ts";

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

/**
 * Listen on the address; under `node:cluster` the primary owns the socket, so
 * a worker that stops accepting leaves it open for the others.
 *
 * @param options Address and handler.
 * @returns The listener.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
export async function listenNodeHttp(options: ListenOptions): Promise<Listener> {
  const { hostname, port, fetch } = options;
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
    fetch: (request: Request, env: { outgoing: { destroy(): unknown } }) =>
      fetch(request, {
        cut: () => {
          // No error: @hono/node-server then prints nothing and cancels the body when the socket closes.
          env.outgoing.destroy();
          return true;
        },
      }),
  }) as Server;
  // node:http cuts a request not received in full within 5 minutes (408), which
  // Bun does not: a slow upload must behave the same everywhere. The 60 s limit
  // on receiving the headers stays.
  server.requestTimeout = 0;
  await listenOn(server, hostname, port);
  let accepting = true;
  // Resolves once the server stopped accepting and its last connection ended.
  let ended: Promise<void> = Promise.resolve();
  // net.Server's close stops accepting; http.Server's would also drop idle
  // keep-alive connections at once, racing clients about to reuse them.
  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    ended = new Promise<void>((done) => NetServer.prototype.close.call(server, () => done()));
  };
  return {
    stopAccepting,
    pause: () => Promise.resolve(stopAccepting()),
    resume: async () => {
      if (accepting) return;
      await listenOn(server, hostname, port);
      accepting = true;
    },
    close: () => {
      stopAccepting();
      server.closeIdleConnections();
      return ended;
    },
    closeAll: () => server.closeAllConnections(),
  };
}
