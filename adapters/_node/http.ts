/**
 * Serving through `node:http` with `@hono/node-server`, which turns Node's
 * request into a Web `Request` and the app's `Response` back.
 *
 * @module
 */

import { createAdaptorServer } from "@hono/node-server";
import type { Server } from "node:http";
import { Server as NetServer } from "node:net";
import type { Listener, ListenOptions } from "../../runtime/host.ts";
import { listenError } from "./process.ts";

/**
 * Listen on the address; under `node:cluster` the primary owns the socket.
 *
 * @param options Address and handler.
 * @returns The listener.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
export function listenNodeHttp(options: ListenOptions): Promise<Listener> {
  const { hostname, port, fetch } = options;
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
  return new Promise((resolve, reject) => {
    const failed = (error: unknown) => reject(listenError(hostname, port, error));
    server.once("error", failed);
    server.listen(port, hostname, () => {
      server.off("error", failed);
      let closed: Promise<void> | undefined;
      // net.Server's close stops accepting; http.Server's would also drop idle
      // keep-alive connections at once, racing clients about to reuse them.
      const stopAccepting = () => (closed ??= new Promise<void>((done) =>
        NetServer.prototype.close.call(server, () => done())
      ));
      resolve({
        stopAccepting: () => void stopAccepting(),
        close: () => {
          const ended = stopAccepting();
          server.closeIdleConnections();
          return ended;
        },
        closeAll: () => server.closeAllConnections(),
      });
    });
  });
}
