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
 * deno run -A mod.ts serve app.ts --workers 4 --port 8000
 * ```
 *
 * @module
 */

export {
  type App,
  type ConfigView,
  defineApp,
  type Env,
  type ExecutionContext,
  type HookContext,
  type InitContext,
  type RuntimeName,
  type SetupContext,
  type WorkerInfo,
} from "./runtime/app.ts";
export { RotaError, type RotaErrorCode } from "./runtime/errors.ts";
export type { ServeOptions } from "./runtime/options.ts";
export type { Server } from "./runtime/server.ts";
export type { SupervisorStats, WorkerState, WorkerStatus } from "./runtime/supervisor/supervisor.ts";
export { currentHost, isMain, main, serve } from "./adapters/mod.ts";

import { isMain, main } from "./adapters/mod.ts";
// Not awaited at top level: the app module imports "rota", which is this very
// module, and must find it evaluated rather than wait on it forever.
if (isMain(import.meta)) void main();
