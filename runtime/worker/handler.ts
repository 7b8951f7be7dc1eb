/**
 * The request handler: one request through the init gate to the app and
 * back, as a pure function of the request and its environment, so that every
 * answer rota makes itself (503 while init is pending or failed, 500 when the
 * app throws or returns something that is not a `Response`, 413 and 504 at
 * the request limits, `Connection: close` while draining or paused) is
 * tested without a process.
 *
 * @module
 */

import type { App, Env, ExecutionContext } from "../app.ts";
import type { RequestConnection } from "../connection.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { InFlight } from "./in_flight.ts";
import type { StreamGuards } from "./response_stream.ts";
import { type InitGate, InitUnavailableError } from "./init_gate.ts";
import type { RequestLimits } from "./request_limits.ts";
import { routeOf } from "./route.ts";

/** What {@linkcode handleRequest} needs besides the request. */
export interface HandlerEnv {
  /** The application. */
  readonly app: App;
  /** Its init gate. */
  readonly gate: InitGate<unknown>;
  /** The `env` a request sees, given the state `init` returned and the request's connection. */
  env(state: unknown, context: ExecutionContext, connection: RequestConnection | undefined): Env;
  /** Whether answers should close their connection (the worker drains, or does not accept for now). */
  closeConnections(): boolean;
  /** `waitUntil` for this worker. */
  waitUntil(promise: Promise<unknown>): void;
  /** Where failures are logged. */
  readonly log: Logger;
  /** The running requests, for the heartbeat. @default {not tracked} */
  readonly inFlight?: InFlight;
  /** `--max-body` and `--request-timeout`. @default {no limits} */
  readonly limits?: RequestLimits;
  /** Streamed bodies, bound to their request so that a failure is logged for it. @default {not guarded} */
  readonly streams?: StreamGuards;
}

/**
 * The 503 for a request that could not pass the gate.
 *
 * @param error Why: still initialising, or failed and retrying.
 * @returns A JSON 503 with `Retry-After`, which never carries the init error.
 */
export function unavailable(error: InitUnavailableError): Response {
  const body = error.code === "ERR_ROTA_INIT_PENDING"
    ? { error: "unavailable", reason: "initialising" }
    : { error: "unavailable", reason: "initialisation failed, retrying" };
  return Response.json(body, {
    status: 503,
    headers: { "retry-after": String(error.retryAfterSeconds), "cache-control": "no-store" },
  });
}

/**
 * The 500 rota answers when the app throws or returns no `Response`.
 *
 * @returns A JSON 500 that carries no error text.
 */
export function internalError(): Response {
  return Response.json({ error: "internal server error" }, { status: 500 });
}

/**
 * Make a response close its connection: add `Connection: close`, or, where
 * the runtime's server says it on its own for this request
 * (`RequestConnection.closesItself`), take rota's away so that it is said once.
 *
 * @param response The response.
 * @param connection The request's connection, when the adapter gave one.
 * @returns The same response, or a copy when its headers are immutable.
 */
export function closeConnection(response: Response, connection?: RequestConnection): Response {
  const itself = connection?.closesItself === true;
  try {
    if (itself) response.headers.delete("connection");
    else response.headers.set("connection", "close");
    return response;
  } catch {
    // Immutable headers (Response.redirect, a proxied fetch): copy once. Only
    // then, because rebuilding a response on Bun can lose its content type.
    const copy = new Response(response.body, response);
    if (itself) copy.headers.delete("connection");
    else copy.headers.set("connection", "close");
    return copy;
  }
}

/**
 * Whether the app returned a real `Response`: only one goes to the runtime (a
 * look-alike `{ status, headers }` became an empty 200 on Node and Deno and
 * Bun's welcome page). `instanceof` alone is not enough: the global `Response`
 * may have been replaced (by `@hono/node-server`, whose 1.x class does not
 * claim the runtime's own responses, and by rota's stream guard) while
 * `Response.json()` still builds the runtime's own. A real response carries
 * the `Response` tag; a look-alike object does not.
 */
function isResponse(value: unknown): value is Response {
  return value instanceof Response || Object.prototype.toString.call(value) === "[object Response]";
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  const kind = typeof value;
  return `${kind === "object" ? "an" : "a"} ${kind}`;
}

/**
 * Answer one request: wait for (or retry) init through the gate, call the
 * app's `fetch`, and turn whatever goes wrong into rota's own answers.
 *
 * Once init succeeded, an app that answers synchronously (a Hono route that
 * returns its response) is answered synchronously too, without a promise:
 * the runtimes' servers take a `Response` as well as a promise of one, and
 * each promise on the way cost ~0.25 µs of the ~9 µs of CPU a one-line answer
 * took (on Bun, measured from `/proc` under `wrk`).
 *
 * @param request The request.
 * @param env The app, its gate, and the worker around them.
 * @param connection The request's connection: cut when a streamed body fails,
 * and handed to the app through `env` (its address, a WebSocket upgrade).
 * @param startedAt When the request arrived, on `env.inFlight`'s clock: the
 * in-flight record's start when the app is called at once (one clock read per
 * request fewer, ~0.2 µs on Deno); after a wait for init, the record starts
 * when the app is called. @default {when the app is called}
 * @returns The response, or a promise of it; never throws nor rejects: whatever the app does becomes a
 * `Response`.
 * @example
 * ```ts
 * const response = await handleRequest(new Request("http://x/"), env);
 * ```
 */
export function handleRequest(
  request: Request,
  env: HandlerEnv,
  connection?: RequestConnection,
  startedAt?: number,
): Response | Promise<Response> {
  // Before the gate, so that a body too large is never read, even while init runs.
  const refused = env.limits?.refuse(request);
  if (refused) return closeConnection(refused, connection);
  // Once ready, skip the wait machinery: no extra promise, and no touching
  // `request.signal`, which makes some adapters build a full Request.
  const gateState = env.gate.state;
  if (gateState.kind === "ready") return answer(request, gateState.state, env, connection, startedAt);
  return answerOnceReady(request, env, connection);
}

async function answerOnceReady(request: Request, env: HandlerEnv, connection?: RequestConnection): Promise<Response> {
  let state: unknown;
  try {
    state = await env.gate.acquire(connection?.watchSignal === false ? undefined : request.signal);
  } catch (error) {
    // The only other rejection is the client going away while it waited.
    return unavailable(
      error instanceof InitUnavailableError ? error : new InitUnavailableError("ERR_ROTA_INIT_PENDING", 1),
    );
  }
  // Not `startedAt`: the in-flight record's age is its handler's (what the watchdog names), not the wait's.
  return answer(request, state, env, connection, undefined);
}

/** The app's answer within the request limits, bound to its connection and closing it when the worker says so. */
function answer(
  request: Request,
  state: unknown,
  env: HandlerEnv,
  connection: RequestConnection | undefined,
  startedAt: number | undefined,
): Response | Promise<Response> {
  const guarded = env.limits?.guard(request, connection?.watchSignal !== false);
  const called = callApp(guarded?.request ?? request, state, env, connection, startedAt);
  if (guarded) {
    return guarded.settle(Promise.resolve(called)).then(({ response, limit }) => {
      // rota's own 413 (a streamed body above --max-body) closes the connection, as the declared-length one does.
      const answered = limit === "max-body" ? closeConnection(response, connection) : response;
      return sent(answered, request, env, connection);
    });
  }
  if (called instanceof Promise) return called.then((response) => sent(response, request, env, connection));
  return sent(called, request, env, connection);
}

function sent(
  response: Response,
  request: Request,
  env: HandlerEnv,
  connection: RequestConnection | undefined,
): Response {
  if (connection) env.streams?.bind(response, request, connection);
  return env.closeConnections() ? closeConnection(response, connection) : response;
}

/** The app's `fetch`, turned into a `Response` whatever it does; tracked while it runs. */
function callApp(
  request: Request,
  state: unknown,
  env: HandlerEnv,
  connection: RequestConnection | undefined,
  startedAt: number | undefined,
): Response | Promise<Response> {
  // Each request gets its own context: `props` is per request, as on Cloudflare.
  const context: ExecutionContext = { waitUntil: env.waitUntil, passThroughOnException() {}, props: {} };
  const ticket = env.inFlight?.begin(request, startedAt);
  const end = () => {
    if (ticket !== undefined) env.inFlight!.end(ticket);
  };
  let result: unknown;
  let thenable: boolean;
  try {
    result = env.app.fetch(request, env.env(state, context, connection), context);
    // Inside the try: looking up `then` can throw too (a revoked Proxy, a getter).
    thenable = isThenable(result);
  } catch (error) {
    end();
    return threw(error, request, env);
  }
  if (!thenable) {
    end();
    return checked(result, request, env);
  }
  return Promise.resolve(result as PromiseLike<unknown>).then(
    (response) => {
      end();
      return checked(response, request, env);
    },
    (error) => {
      end();
      return threw(error, request, env);
    },
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function threw(error: unknown, request: Request, env: HandlerEnv): Response {
  env.log.error(`fetch threw: ${describeError(error)}`, {
    url: request.url,
    stack: error instanceof Error ? error.stack : undefined,
  });
  return internalError();
}

function checked(response: unknown, request: Request, env: HandlerEnv): Response {
  if (isResponse(response)) return response;
  env.log.error(`fetch returned ${describeValue(response)} instead of a Response: ${routeOf(request)}`);
  return internalError();
}
