/**
 * `getConnInfo`: the client's address, the same on every runtime, in the
 * shape of Hono's `ConnInfo` (`hono/conninfo`).
 *
 * @module
 */

import type { ConnInfo as HonoConnInfo } from "hono/conninfo";
import { type AppConnection, CONNECTION } from "./connection.ts";

/**
 * Hono's `ConnInfo` (`hono/conninfo`): `{ remote: { address, port, addressType, transport } }`.
 *
 * @internal
 */
export type ConnInfo = HonoConnInfo;

/**
 * The connection rota put on `env`, or a clear error when `env` is not rota's.
 *
 * @param env What the app's `fetch` got as its second argument.
 * @param helper The helper asking, for the message.
 * @returns The connection.
 * @throws {TypeError} When `env` did not come from rota.
 */
export function connectionOf(env: unknown, helper: string): AppConnection {
  const connection = (env as { [CONNECTION]?: AppConnection } | null | undefined)?.[CONNECTION];
  if (connection === undefined) {
    throw new TypeError(
      `Cannot use rota's ${helper} as the request did not come through rota: it needs the env rota hands to fetch (c.env in Hono)`,
    );
  }
  return connection;
}

/**
 * The client's address and port, as the worker's socket sees them. Behind a
 * proxy this is the proxy: read its forwarding headers for the original client.
 *
 * @param c A Hono `Context`, or anything with the `env` rota handed to
 * `fetch` (`getConnInfo({ env })` in a plain fetch app).
 * @returns `{ remote: { address, port, addressType, transport } }`, with an
 * empty `remote` when the connection is already gone.
 * @throws {TypeError} When the request did not come through rota.
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { getConnInfo } from "rota";
 *
 * const app = new Hono();
 * app.get("/", (c) => c.text(`you are ${getConnInfo(c).remote.address}`));
 * ```
 */
export function getConnInfo(c: { readonly env: unknown }): ConnInfo {
  const remote = connectionOf(c.env, "getConnInfo").remote();
  if (remote === undefined) return { remote: {} };
  return {
    remote: { address: remote.address, port: remote.port, addressType: remote.family, transport: "tcp" },
  };
}
