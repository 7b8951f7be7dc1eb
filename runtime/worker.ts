/**
 * The worker loop: import the app, open the init gate, listen, answer
 * requests through the gate, and drain when told.
 *
 * @module
 */

import { type App, type ConfigView, type Env, type ExecutionContext, loadApp, type WorkerInfo } from "./app.ts";
import { sleep } from "./clock.ts";
import { describeError, RotaError } from "./errors.ts";
import type { Host, Listener, WorkerChannel, WorkerSpec } from "./host.ts";
import { type InitEvent, InitGate, InitUnavailableError } from "./init_gate.ts";
import { createLogger, type Logger } from "./log.ts";
import { parseSupervisorMessage, type WorkerMessage } from "./protocol.ts";

/**
 * How long a draining worker keeps answering on open keep-alive connections
 * (every answer carrying `Connection: close`) before it closes idle ones.
 * Closing an idle connection races the client's next request on it; giving
 * clients this long to send it and read `Connection: close` is what measured
 * zero lost requests on all three runtimes (see RUNTIME-NOTES.md).
 */
export const DRAIN_SETTLE_MS = 500;

type Phase =
  | { kind: "starting" }
  | { kind: "serving"; listener: Listener }
  | { kind: "draining" };

/**
 * Check the spec a supervisor sent.
 *
 * @param raw The unvalidated spec.
 * @returns The spec.
 * @throws {TypeError} When a field is missing or of the wrong type.
 */
function parseSpec(raw: unknown): WorkerSpec {
  const spec = raw as Record<string, unknown> | null;
  const fields = {
    app: "string",
    slot: "number",
    generation: "number",
    port: "number",
    hostname: "string",
    initTimeout: "number",
    initWait: "number",
    gracefulTimeout: "number",
    logFormat: "string",
    listen: "string",
  } as const;
  for (const [field, kind] of Object.entries(fields)) {
    if (typeof spec?.[field] !== kind) {
      throw new TypeError(`Cannot start worker as its spec has no '${field}' ${kind}`);
    }
  }
  return spec as unknown as WorkerSpec;
}

function unavailable(error: InitUnavailableError): Response {
  const body = error.code === "ERR_ROTA_INIT_PENDING"
    ? { error: "unavailable", reason: "initialising" }
    : { error: "unavailable", reason: "initialisation failed, retrying" };
  return Response.json(body, {
    status: 503,
    headers: { "retry-after": String(error.retryAfterSeconds), "cache-control": "no-store" },
  });
}

function internalError(): Response {
  return Response.json({ error: "internal server error" }, { status: 500 });
}

function closeConnection(response: Response): Response {
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    // Immutable headers (Response.redirect, a proxied fetch): copy once. Only
    // then, because rebuilding a response on Bun can lose its content type.
    const copy = new Response(response.body, response);
    copy.headers.set("connection", "close");
    return copy;
  }
}

function isResponse(value: unknown): value is Response {
  return typeof value === "object" && value !== null && "status" in value && "headers" in value;
}

/**
 * Run this process as a worker until it is drained.
 *
 * @param host The runtime.
 * @param channel The channel to the supervisor.
 * @returns When the worker has asked to exit.
 * @example
 * ```ts
 * const channel = host.workerChannel();
 * if (channel) await runWorker(host, channel);
 * ```
 */
export async function runWorker(host: Host, channel: WorkerChannel): Promise<void> {
  const spec = parseSpec(channel.spec);
  const worker: WorkerInfo = {
    slot: spec.slot,
    generation: spec.generation,
    pid: host.pid(),
    runtime: host.runtime,
  };
  const log = createLogger({
    format: spec.logFormat,
    name: `worker ${spec.slot}.${spec.generation}`,
    fields: spec.logFormat === "json" ? { pid: worker.pid, slot: spec.slot, generation: spec.generation } : {},
    write: host.writeLog,
  });
  const send = (message: WorkerMessage) => channel.send(message);
  const fatal = (error: unknown): void => {
    const code = error instanceof RotaError ? error.code : "ERR_ROTA_APP_IMPORT";
    send({ rota: 1, type: "fatal", code, message: describeError(error) });
    channel.exit(1);
  };

  let app: App;
  try {
    const { module } = await host.importModule(spec.app);
    app = loadApp(module, spec.app);
  } catch (error) {
    return fatal(error);
  }

  const config: ConfigView = { get: () => ({}), version: 0 };
  const gate = new InitGate<unknown>({
    init: ({ signal, attempt }) => app.init?.({ signal, attempt, config, worker }),
    clock: host.clock,
    timeout: spec.initTimeout,
    wait: spec.initWait,
    onEvent: (event) => reportInit(event),
  });
  const reportInit = (event: InitEvent) => {
    switch (event.type) {
      case "attempt":
        if (event.attempt > 1) log.info(`init attempt ${event.attempt}`);
        return;
      case "ready":
        log.info(`init succeeded on attempt ${event.attempt} in ${Math.round(event.ms)}ms`);
        return send({ rota: 1, type: "init-ok", attempt: event.attempt });
      case "failed": {
        const code = (event.error as { code?: unknown })?.code;
        const message = describeError(event.error);
        log.error(`init attempt ${event.attempt} failed: ${message}`, {
          retryInMs: event.retryInMs,
          stack: event.error instanceof Error ? event.error.stack : undefined,
        });
        return send({
          rota: 1,
          type: "init-failed",
          attempt: event.attempt,
          code: typeof code === "string" ? code : "ERR_ROTA_INIT_FAILED",
          message,
        });
      }
      case "hung":
        log.error(`init attempt ${event.attempt} ignored its abort signal; asking to be replaced`);
        return send({ rota: 1, type: "init-hung", attempt: event.attempt });
    }
  };

  let phase: Phase = { kind: "starting" };
  let draining = false;
  const pending = new Set<Promise<unknown>>();
  const waitUntil = (promise: Promise<unknown>) => {
    const tracked = promise.catch((error) => log.error(`waitUntil promise rejected: ${describeError(error)}`))
      .finally(() => pending.delete(tracked));
    pending.add(tracked);
  };
  const context: ExecutionContext = { waitUntil, passThroughOnException() {}, props: {} };

  const fetch = async (request: Request): Promise<Response> => {
    let state: unknown;
    try {
      state = await gate.acquire(request.signal);
    } catch (error) {
      // The only other rejection is the client going away while it waited.
      return unavailable(
        error instanceof InitUnavailableError ? error : new InitUnavailableError("ERR_ROTA_INIT_PENDING", 1),
      );
    }
    const env: Env = { state, config, worker, waitUntil };
    let response: unknown;
    try {
      response = await app.fetch(request, env, context);
    } catch (error) {
      log.error(`fetch threw: ${describeError(error)}`, {
        url: request.url,
        stack: error instanceof Error ? error.stack : undefined,
      });
      response = internalError();
    }
    if (!isResponse(response)) {
      log.error(`fetch returned ${typeof response}, not a Response`, { url: request.url });
      response = internalError();
    }
    return draining ? closeConnection(response as Response) : (response as Response);
  };

  const drain = async (why: string): Promise<void> => {
    if (phase.kind === "draining") return;
    const listener = phase.kind === "serving" ? phase.listener : undefined;
    phase = { kind: "draining" };
    draining = true;
    log.info(`draining (${why})`);
    gate.close();
    const graceful = AbortSignal.timeout(spec.gracefulTimeout);
    if (listener) {
      await sleep(host.clock, Math.min(DRAIN_SETTLE_MS, spec.gracefulTimeout));
      const closed = listener.close();
      const finished = await Promise.race([
        Promise.all([closed, ...pending]).then(() => true),
        new Promise<false>((resolve) => graceful.addEventListener("abort", () => resolve(false), { once: true })),
      ]);
      if (!finished) {
        log.warn(`graceful timeout of ${spec.gracefulTimeout}ms passed; closing remaining connections`);
        listener.closeAll();
      }
    }
    const state = gate.state;
    try {
      await app.dispose?.({ state: state.kind === "ready" ? state.state : undefined, config, worker });
    } catch (error) {
      log.error(`dispose threw: ${describeError(error)}`);
    }
    teardown.forEach((remove) => remove());
    channel.exit(0);
  };

  const teardown = [
    channel.onMessage((raw) => {
      const parsed = parseSupervisorMessage(raw);
      if (!parsed.ok) return log.warn(`ignored a malformed message from the supervisor: ${parsed.reason}`);
      if (parsed.message.type === "drain") void drain("asked by the supervisor");
    }),
    channel.onDisconnect(() => void drain("the supervisor went away")),
    host.onSignal("SIGTERM", () => void drain("SIGTERM")),
    host.onSignal("SIGINT", () => void drain("SIGINT")),
    // SIGHUP is for the supervisor (a terminal hang-up reaches the whole group).
    host.onSignal("SIGHUP", () => {}),
  ];

  const opened = gate.open();
  if (spec.listen === "after-init") await opened;
  if ((phase as Phase).kind === "draining") return;
  try {
    const listener = await host.listen({ hostname: spec.hostname, port: spec.port, fetch });
    if ((phase as Phase).kind === "draining") {
      await listener.close();
      return;
    }
    phase = { kind: "serving", listener };
  } catch (error) {
    teardown.forEach((remove) => remove());
    return fatal(error);
  }
  send({ rota: 1, type: "listening" });
}
