/**
 * The application's side of the contract: the hooks a worker runs and the
 * `env` every request sees.
 *
 * @module
 */

import type { PublishResult } from "./protocol.ts";
import { RotaError } from "./errors.ts";

/** The runtimes rota runs on. */
export type RuntimeName = "node" | "bun" | "deno";

/** Who is answering: handed to every hook and to `fetch` as `env.worker`. */
export interface WorkerInfo {
  /** The slot this worker fills, from 0 to `workers - 1`. */
  readonly slot: number;
  /** How many workers this slot had before this one. */
  readonly generation: number;
  /** The worker's process id. */
  readonly pid: number;
  /** The runtime the worker runs on. */
  readonly runtime: RuntimeName;
}

/** The configuration the supervisor owns, as one worker sees it. */
export interface ConfigView<C = unknown> {
  /** The current value. */
  get(): C;
  /** Bumped by the supervisor on every change; 0 for the initial value. */
  readonly version: number;
  /**
   * Publish a new value to every worker. Publishes are applied one at a time;
   * with `ifVersion`, only when the current version is still that one.
   *
   * @param next The new value (JSON, not a string).
   * @param options `ifVersion` for compare-and-set.
   * @returns Once every live worker has the new value and ran `reload`: the
   * new version and the workers whose hook failed or timed out. After it
   * resolves, no worker answers with an older version.
   * @throws {RotaError} `ERR_ROTA_CONFIG_CONFLICT` when `ifVersion` is stale.
   * @throws {TypeError} When `next` is not JSON.
   */
  publish(next: C, options?: { ifVersion?: number }): Promise<PublishResult>;
}

/**
 * What `fetch` receives as its second argument (Hono: `c.env`).
 *
 * @typeParam S What `init` returned.
 * @typeParam C The configuration's shape.
 */
export interface Env<S = unknown, C = unknown> {
  /** What the last successful `init` returned. */
  readonly state: S;
  /** The shared configuration. */
  readonly config: ConfigView<C>;
  /** Who is answering. */
  readonly worker: WorkerInfo;
  /** Keep the worker from exiting until `promise` settles (bounded by the graceful timeout). */
  waitUntil(promise: Promise<unknown>): void;
}

/** The third argument of `fetch`, shaped like Hono's and Cloudflare's execution context. */
export interface ExecutionContext {
  /** Same as `env.waitUntil`. */
  waitUntil(promise: Promise<unknown>): void;
  /** Accepted for compatibility; rota answers 500 on a thrown error either way. */
  passThroughOnException(): void;
  /** Accepted for compatibility. */
  readonly props: Record<string, unknown>;
}

/** What `init` receives. */
export interface InitContext<C = unknown> {
  /** Aborts when the attempt passes `initTimeout`, or the worker stops. */
  readonly signal: AbortSignal;
  /** The shared configuration. */
  readonly config: ConfigView<C>;
  /** 1 for the first attempt in this process, then 2, 3, … */
  readonly attempt: number;
  /** Who is initialising. */
  readonly worker: WorkerInfo;
}

/** What `reload` and `dispose` receive. */
export interface HookContext<S = unknown, C = unknown> {
  /** What `init` returned; `undefined` when it never succeeded. */
  readonly state: S | undefined;
  /** The shared configuration. */
  readonly config: ConfigView<C>;
  /** Who is running the hook. */
  readonly worker: WorkerInfo;
}

/** What `setup` receives: it runs once, in the supervisor. */
export interface SetupContext<C = unknown> {
  /** The initial configuration value. */
  readonly config: C;
}

/**
 * A rota application. Only `fetch` is required.
 *
 * @typeParam S What `init` returns; `env.state` in `fetch`.
 * @typeParam C The configuration's shape.
 */
export interface App<S = unknown, C = unknown> {
  /** Runs once in the supervisor before any worker starts (migrations). */
  setup?(context: SetupContext<C>): void | Promise<void>;
  /** Runs when a worker starts, and again after a failure; its result is `env.state`. */
  init?(context: InitContext<C>): S | Promise<S>;
  /** Answers one request. */
  fetch(
    request: Request,
    env: Env<S, C>,
    context: ExecutionContext,
  ): Response | Promise<Response>;
  /** Runs in every worker when the configuration changes. */
  reload?(context: HookContext<S, C>): void | Promise<void>;
  /** Runs once per worker after its in-flight requests finished, before it exits. */
  dispose?(context: HookContext<S, C>): void | Promise<void>;
  /**
   * Requests rota runs through `fetch` in the worker itself (no network), after
   * `init` succeeded and before the worker takes connections, whenever another
   * worker serves meanwhile (a replacement, a respawn): the new worker starts
   * warm. Never when no other worker is ready, since then waiting would keep
   * clients waiting.
   */
  warmup?: Warmup;
  /**
   * Bun only: the `websocket` handlers `Bun.serve` takes (`websocket` from
   * `hono/bun`), for an app written for Bun that upgrades through Bun's own
   * `server.upgrade` (Hono's `upgradeWebSocket` from `hono/bun`). rota's own
   * `upgradeWebSocket` needs none, and works on every runtime.
   */
  websocket?: BunWebSocketHandlers;
}

/** The `websocket` handlers of `Bun.serve`, as far as rota passes them on. */
export interface BunWebSocketHandlers {
  /** A socket opened. */
  open?(ws: never): unknown;
  /** A message arrived. */
  message?(ws: never, message: never): unknown;
  /** A socket closed. */
  close?(ws: never, code: number, reason: string): unknown;
  /** A socket can take more data. */
  drain?(ws: never): unknown;
}

/** The warm-up of a new worker: requests the app names, for a bounded time. */
export interface Warmup {
  /** Paths (`"/"`, `"/products?page=1"`) or `Request`s, run in turn, again and again. */
  readonly requests: readonly (string | Request)[];
  /** How long to keep running them, in milliseconds, at most 10 000. @default {1000} */
  readonly duration?: number;
}

/** The longest warm-up rota runs, in milliseconds. */
export const MAX_WARMUP_MS = 10_000;

/**
 * Declare a rota application. It returns `app` unchanged and exists for the
 * types: a plain default-exported object of the same shape is served the same way.
 *
 * @typeParam S What `init` returns.
 * @typeParam C The configuration's shape.
 * @param app The hooks.
 * @returns `app`.
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { defineApp, type Env } from "rota";
 *
 * const hono = new Hono<{ Bindings: Env<{ greeting: string }> }>();
 * hono.get("/", (c) => c.text(c.env.state.greeting));
 * export default defineApp({ init: () => ({ greeting: "hello" }), fetch: hono.fetch });
 * ```
 */
export function defineApp<S = unknown, C = unknown>(
  app: App<S, C>,
): App<S, C> {
  return app;
}

const HOOKS = ["setup", "init", "reload", "dispose"] as const;

/**
 * Check that an imported module's default export is an application: an object
 * with a `fetch` function (a Hono instance qualifies), or a bare fetch function.
 *
 * @param module The imported module namespace.
 * @param name How to name the module in the error.
 * @returns The application, with `fetch` bound to its owner.
 * @throws {RotaError} `ERR_ROTA_APP_SHAPE` when the default export does not fit.
 * @example
 * ```ts
 * const app = loadApp(await import("./app.ts"), "app.ts");
 * ```
 */
export function loadApp(module: unknown, name: string): App {
  const exported = (module as { default?: unknown } | null)?.default;
  if (typeof exported === "function") {
    return { fetch: exported as App["fetch"] };
  }
  if (typeof exported !== "object" || exported === null) {
    throw new RotaError(
      "ERR_ROTA_APP_SHAPE",
      `Cannot serve '${name}' as its default export must be an object with a fetch(request, env) method: current value is ${
        exported === null ? "null" : typeof exported
      }`,
    );
  }
  const app = exported as Record<string, unknown>;
  if (typeof app.fetch !== "function") {
    throw new RotaError(
      "ERR_ROTA_APP_SHAPE",
      `Cannot serve '${name}' as its default export has no fetch(request, env) method: it has ${
        Object.keys(app).map((k) => `'${k}'`).join(", ") || "no properties"
      }`,
    );
  }
  for (const hook of HOOKS) {
    if (app[hook] !== undefined && typeof app[hook] !== "function") {
      throw new RotaError(
        "ERR_ROTA_APP_SHAPE",
        `Cannot serve '${name}' as its '${hook}' hook must be a function: current value is ${typeof app[hook]}`,
      );
    }
  }
  const websocket = app.websocket;
  if (websocket !== undefined && (typeof websocket !== "object" || websocket === null)) {
    throw new RotaError(
      "ERR_ROTA_APP_SHAPE",
      `Cannot serve '${name}' as its 'websocket' handlers must be an object (Bun's): current value is ${
        websocket === null ? "null" : typeof websocket
      }`,
    );
  }
  const bind = <K extends keyof App>(key: K) =>
    typeof app[key] === "function" ? (app[key] as (...args: unknown[]) => unknown).bind(app) : undefined;
  return {
    fetch: bind("fetch") as App["fetch"],
    setup: bind("setup") as App["setup"],
    init: bind("init") as App["init"],
    reload: bind("reload") as App["reload"],
    dispose: bind("dispose") as App["dispose"],
    warmup: checkWarmup(app.warmup, name),
    websocket: websocket as BunWebSocketHandlers | undefined,
  };
}

function checkWarmup(warmup: unknown, name: string): Warmup | undefined {
  if (warmup === undefined) return undefined;
  const fail = (rule: string): never => {
    throw new RotaError("ERR_ROTA_APP_SHAPE", `Cannot serve '${name}' as its 'warmup' ${rule}`);
  };
  const { requests, duration } = (warmup ?? {}) as { requests?: unknown; duration?: unknown };
  if (typeof warmup !== "object" || warmup === null) fail("must be an object with 'requests'");
  if (!Array.isArray(requests) || requests.some((r) => typeof r !== "string" && !(r instanceof Request))) {
    fail("'requests' must be an array of paths or Requests");
  }
  if (duration !== undefined && (typeof duration !== "number" || !(duration > 0) || duration > MAX_WARMUP_MS)) {
    fail(`'duration' must be milliseconds from 1 to ${MAX_WARMUP_MS}: current value is ${String(duration)}`);
  }
  return warmup as Warmup;
}
