/**
 * Serving through `node:http` with `@hono/node-server`, which turns Node's
 * request into a Web `Request` and the app's `Response` back.
 *
 * @module
 */

import { createAdaptorServer } from "@hono/node-server";
import type { Server } from "node:http";
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
  const server = createAdaptorServer({ fetch: (request: Request) => fetch(request) }) as Server;
  return new Promise((resolve, reject) => {
    const failed = (error: unknown) => reject(listenError(hostname, port, error));
    server.once("error", failed);
    server.listen(port, hostname, () => {
      server.off("error", failed);
      resolve({
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
        closeAll: () => server.closeAllConnections(),
      });
    });
  });
}
