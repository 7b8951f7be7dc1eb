/**
 * rota runs a Web-standard fetch application (a Hono app, or any
 * `fetch(request) => Response`) across a rota of worker processes on Node,
 * Bun and Deno, behind an init gate that starts `init` with the worker and
 * retries it on the next request when it fails.
 *
 * ```ts
 * // app.ts
 * import { Hono } from "hono";
 * import { defineApp, type Env } from "rota";
 *
 * const app = new Hono<{ Bindings: Env<{ greeting: string }> }>();
 * app.get("/", (c) => c.text(c.env.state.greeting));
 *
 * export default defineApp({ init: async () => ({ greeting: "hello" }), fetch: app.fetch });
 * ```
 *
 * ```sh
 * npx rota serve app.ts --workers 4 --port 8000
 * ```
 *
 * From code, `serve()` starts the same rota and hands back a {@linkcode Server}:
 *
 * ```ts
 * import { serve } from "rota";
 *
 * await using server = await serve({ app: "./app.ts", workers: 4, port: 8000 });
 * ```
 *
 * The runtime reaches a Hono app through `getConnInfo(c)` (the client's
 * address) and `upgradeWebSocket(...)` (WebSockets), the same on every runtime:
 *
 * ```ts
 * import { Hono } from "hono";
 * import { getConnInfo, upgradeWebSocket } from "rota";
 *
 * const app = new Hono();
 * app.get("/ip", (c) => c.text(getConnInfo(c).remote.address ?? "unknown"));
 * app.get("/ws", upgradeWebSocket(() => ({ onMessage: (event, ws) => ws.send(`echo: ${event.data}`) })));
 * ```
 *
 * This module re-exports, and loads the supervisor's side only when `serve()`
 * is called (an app module that imports it runs in every worker): the
 * command line and the worker processes run `main.ts`, and importing this
 * module starts nothing.
 *
 * @module
 */

import type { ServeOptions } from "./runtime/options.ts";
import type { Server } from "./runtime/server.ts";

export {
  type App,
  type BunWebSocketHandlers,
  type ConfigView,
  defineApp,
  type Env,
  type ExecutionContext,
  type HookContext,
  type InitContext,
  type RuntimeName,
  type SetupContext,
  type Warmup,
  type WorkerInfo,
} from "./runtime/app.ts";
export type { PublishResult, ReloadFailure } from "./runtime/protocol.ts";
export { RotaError, type RotaErrorCode } from "./runtime/errors.ts";
export { getConnInfo } from "./runtime/conn_info.ts";
export { upgradeWebSocket, type UpgradeWebSocketOptions } from "./runtime/websocket.ts";
export type { ConfigValue, ServeOptions } from "./runtime/options.ts";
export type { Server } from "./runtime/server.ts";
export type {
  RotaCounters,
  RotaEvent,
  RotaEventKind,
  RotaSnapshot,
  WorkerSnapshot,
  WorkerState,
} from "./runtime/ops/snapshot.ts";
export type { Histogram } from "./runtime/ops/histogram.ts";
export type { SupervisorStats, WorkerStateName, WorkerStatus } from "./runtime/supervisor/supervisor.ts";

/**
 * Serve an app across a rota of worker processes.
 *
 * Unset options come from the environment (`PORT`, `ROTA_WORKERS`, …), then
 * from `rota.config.json` in the working directory (or the file `config`
 * names), then the defaults. Unlike the CLI, `serve()` installs no signal
 * handlers: the calling program decides when to `close()` or `reload()`.
 *
 * @param options The app module and the options of `rota serve`.
 * @returns The running rota, once every slot has a worker that is ready or failing.
 * @throws {RangeError} For an invalid option value, with a one-line message.
 * @throws {RotaError} `ERR_ROTA_USAGE` for an unknown option; another code when
 * the app cannot be loaded or the port cannot be bound.
 * @example
 * ```ts
 * import { serve } from "rota";
 * await using server = await serve({ app: "./app.ts", workers: 4, port: 8000 });
 * console.log(server.status());
 * ```
 */
export async function serve(options: ServeOptions): Promise<Server> {
  // Loaded on first use: an app module that imports "rota" for `defineApp`
  // runs in every worker, which loads neither the command line nor the
  // supervisor (adapters/worker_main.ts).
  const { serve } = await import("./adapters/mod.ts");
  return await serve(options);
}
