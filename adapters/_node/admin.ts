/**
 * The admin HTTP listener (metrics, health, the status page) of a supervisor,
 * through `node:http` and `@hono/node-server`, which Node and Deno run (Bun
 * serves it with `Bun.serve`). `@hono/node-server` is loaded only when an
 * admin listener is asked for.
 *
 * @module
 */

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Closable, ServeHttpOptions } from "../../runtime/ops/ops_host.ts";
import { loadNodeServer } from "./http.ts";
import { listenError } from "./process.ts";

/**
 * Serve `fetch` on an address.
 *
 * @param options Address and handler; a handler that throws answers 500.
 * @returns The bound port and a `close()` that also ends open connections.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
export async function serveHttp(options: ServeHttpOptions): Promise<Closable & { readonly port: number }> {
  const { hostname, port, fetch } = options;
  const { createAdaptorServer } = await loadNodeServer();
  const answer = async (request: Request): Promise<Response> => {
    try {
      return await fetch(request);
    } catch {
      return new Response("internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
    }
  };
  const server = createAdaptorServer({ fetch: answer }) as Server;
  return await new Promise((resolve, reject) => {
    const failed = (error: unknown) => reject(listenError(hostname, port, error));
    server.once("error", failed);
    server.listen(port, hostname, () => {
      server.off("error", failed);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
