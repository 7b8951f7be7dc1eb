/**
 * The worker loop: import the app, open the init gate, listen, answer
 * requests through the gate, and drain when told.
 *
 * @module
 */

import { type App, type ConfigView, type Env, type ExecutionContext, loadApp, type WorkerInfo } from "./app.ts";
import { sleep } from "./clock.ts";
import type { PublishResult } from "./config_store.ts";
import { describeError, RotaError, type RotaErrorCode } from "./errors.ts";
import type { Host, Listener, WorkerChannel, WorkerSpec } from "./host.ts";
import { type InitEvent, InitGate, InitUnavailableError } from "./init_gate.ts";
import { createLogger, type Logger } from "./log.ts";
import { parseSupervisorMessage, type WorkerMessage } from "./protocol.ts";

/**
 * How long a draining worker, having stopped accepting (where the runtime
 * allows), keeps answering on open keep-alive connections (every answer
 * carrying `Connection: close`) before it closes idle ones.
 * Closing an idle connection races the client's next request on it; giving
 * clients this long to send it and read `Connection: close` is what measured
 * zero lost requests on all three runtimes (see RUNTIME-NOTES.md).
 */
export const DRAIN_SETTLE_MS = 500;

/** How often a worker with `maxMemory` set looks at its resident set size. */
export const MEMORY_CHECK_MS = 2000;

/** Where the worker is. Messages and signals are heard from the very start, in every phase. */
type Phase =
  | { kind: "loading" }
  | { kind: "starting"; app: App; gate: InitGate<unknown> }
  | { kind: "serving"; app: App; gate: InitGate<unknown>; listener: Listener }
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
    maxRequests: "number",
    maxMemory: "number",
    listen: "string",
    config: "object",
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
 * @returns Once the worker serves (or has asked to exit).
 * @example
 * ```ts
 * const channel = host.workerChannel();
 * if (channel) await runWorker(host, channel);
 * ```
 */
export function runWorker(host: Host, channel: WorkerChannel): Promise<void> {
  return new WorkerLoop(host, channel, parseSpec(channel.spec)).run();
}

class WorkerLoop {
  #host: Host;
  #channel: WorkerChannel;
  #spec: WorkerSpec;
  #info: WorkerInfo;
  #log: Logger;
  #phase: Phase = { kind: "loading" };
  #current: { version: number; value: unknown };
  #config: ConfigView;
  #publishes = new Map<number, { resolve: (result: PublishResult) => void; reject: (error: unknown) => void }>();
  #publishId = 0;
  /** `reload` hooks run one after another, in version order. */
  #reloads: Promise<void> = Promise.resolve();
  #pending = new Set<Promise<unknown>>();
  #context: ExecutionContext;
  #served = 0;
  #recycling = false;
  #memoryTimer: unknown;
  #teardown: Array<() => void> = [];

  constructor(host: Host, channel: WorkerChannel, spec: WorkerSpec) {
    this.#host = host;
    this.#channel = channel;
    this.#spec = spec;
    this.#info = { slot: spec.slot, generation: spec.generation, pid: host.pid(), runtime: host.runtime };
    this.#log = createLogger({
      format: spec.logFormat,
      name: `worker ${spec.slot}.${spec.generation}`,
      fields: spec.logFormat === "json" ? { pid: this.#info.pid, slot: spec.slot, generation: spec.generation } : {},
      write: host.writeLog,
    });
    this.#context = { waitUntil: (promise) => this.#waitUntil(promise), passThroughOnException() {}, props: {} };
    this.#current = { version: spec.config.version, value: spec.config.value };
    const loop = this;
    this.#config = {
      get: () => loop.#current.value,
      get version() {
        return loop.#current.version;
      },
      publish: (next, options = {}) => loop.#publish(next, options.ifVersion),
    };
  }

  async run(): Promise<void> {
    const host = this.#host;
    this.#teardown = [
      this.#channel.onMessage((raw) => this.#onMessage(raw)),
      this.#channel.onDisconnect(() => void this.#drain("the supervisor went away")),
      host.onSignal("SIGTERM", () => void this.#drain("SIGTERM")),
      host.onSignal("SIGINT", () => void this.#drain("SIGINT")),
      // SIGHUP is for the supervisor (a terminal hang-up reaches the whole group).
      host.onSignal("SIGHUP", () => {}),
    ];

    let app: App;
    try {
      const { module } = await host.importModule(this.#spec.app);
      app = loadApp(module, this.#spec.app);
    } catch (error) {
      return this.#fatal(error);
    }
    if (this.#phase.kind === "draining") return;

    const spec = this.#spec;
    const gate = new InitGate<unknown>({
      init: ({ signal, attempt }) => app.init?.({ signal, attempt, config: this.#config, worker: this.#info }),
      clock: host.clock,
      timeout: spec.initTimeout,
      wait: spec.initWait,
      onEvent: (event) => this.#reportInit(event),
    });
    this.#phase = { kind: "starting", app, gate };
    const opened = gate.open();
    if (spec.listen === "after-init") await opened;
    if (this.#isDraining()) return;

    let listener: Listener;
    try {
      listener = await host.listen({
        hostname: spec.hostname,
        port: spec.port,
        fetch: (r) => this.#fetch(app, gate, r),
      });
    } catch (error) {
      return this.#fatal(error);
    }
    if (this.#isDraining()) {
      await listener.close();
      return;
    }
    this.#phase = { kind: "serving", app, gate, listener };
    this.#send({ rota: 1, type: "listening" });
    if (spec.maxMemory > 0) this.#watchMemory();
  }

  /** A method, not a property read, so that checks after an `await` are not narrowed away. */
  #isDraining(): boolean {
    return this.#phase.kind === "draining";
  }

  #send(message: WorkerMessage): void {
    this.#channel.send(message);
  }

  #exit(code: number): void {
    this.#teardown.forEach((remove) => remove());
    this.#channel.exit(code);
  }

  #fatal(error: unknown): void {
    const code = error instanceof RotaError ? error.code : "ERR_ROTA_APP_IMPORT";
    this.#send({ rota: 1, type: "fatal", code, message: describeError(error) });
    this.#exit(1);
  }

  #onMessage(raw: unknown): void {
    const parsed = parseSupervisorMessage(raw);
    if (!parsed.ok) {
      this.#log.warn(`ignored a malformed message from the supervisor: ${parsed.reason}`);
      return;
    }
    switch (parsed.message.type) {
      case "drain":
        void this.#drain("asked by the supervisor");
        return;
      case "config":
        return this.#applyConfig(parsed.message.version, parsed.message.value);
      case "publish-result": {
        const { id, ok, version, failed, code, message } = parsed.message;
        const pending = this.#publishes.get(id);
        if (!pending) return;
        this.#publishes.delete(id);
        if (ok) return pending.resolve({ version: version ?? this.#current.version, failed: failed ?? [] });
        return pending.reject(new RotaError((code ?? "ERR_ROTA_CONFIG") as RotaErrorCode, message ?? "publish failed"));
      }
    }
  }

  #publish(value: unknown, ifVersion: number | undefined): Promise<PublishResult> {
    let copy: unknown;
    try {
      copy = JSON.parse(JSON.stringify(value));
    } catch (error) {
      return Promise.reject(new TypeError(`Cannot publish configuration as it is not JSON: ${describeError(error)}`));
    }
    if (copy === undefined || typeof copy === "string") {
      return Promise.reject(
        new TypeError("Cannot publish configuration as it must be a JSON value other than a string"),
      );
    }
    if (ifVersion !== undefined && !Number.isInteger(ifVersion)) {
      return Promise.reject(
        new TypeError(`Cannot publish configuration as 'ifVersion' must be an integer: current value is ${ifVersion}`),
      );
    }
    const id = ++this.#publishId;
    return new Promise<PublishResult>((resolve, reject) => {
      this.#publishes.set(id, { resolve, reject });
      this.#send({ rota: 1, type: "publish", id, value: copy, ...(ifVersion === undefined ? {} : { ifVersion }) });
    });
  }

  /**
   * Take a configuration version: visible to requests at once, then `reload`
   * runs (once init has succeeded; a later init reads it anyway), then the
   * supervisor hears back. Old or repeated versions are acknowledged only.
   */
  #applyConfig(version: number, value: unknown): void {
    const fresh = version > this.#current.version;
    if (fresh) this.#current = { version, value };
    this.#reloads = this.#reloads.then(async () => {
      const phase = this.#phase;
      const live = phase.kind === "starting" || phase.kind === "serving" ? phase : undefined;
      const state = live?.gate.state;
      if (!fresh || !live || state?.kind !== "ready") {
        return this.#send({ rota: 1, type: "config-ack", version, ok: true });
      }
      try {
        await live.app.reload?.({ state: state.state, config: this.#config, worker: this.#info });
        this.#send({ rota: 1, type: "config-ack", version, ok: true });
      } catch (error) {
        const message = describeError(error);
        this.#log.error(`reload hook failed for version ${version}: ${message}`);
        this.#send({ rota: 1, type: "config-ack", version, ok: false, message });
      }
    });
  }

  #reportInit(event: InitEvent): void {
    const log = this.#log;
    switch (event.type) {
      case "attempt":
        if (event.attempt > 1) log.info(`init attempt ${event.attempt}`);
        return;
      case "ready":
        log.info(`init succeeded on attempt ${event.attempt} in ${Math.round(event.ms)}ms`);
        return this.#send({ rota: 1, type: "init-ok", attempt: event.attempt });
      case "failed": {
        const code = (event.error as { code?: unknown })?.code;
        const message = describeError(event.error);
        log.error(`init attempt ${event.attempt} failed: ${message}`, {
          retryInMs: event.retryInMs,
          stack: event.error instanceof Error ? event.error.stack : undefined,
        });
        return this.#send({
          rota: 1,
          type: "init-failed",
          attempt: event.attempt,
          code: typeof code === "string" ? code : "ERR_ROTA_INIT_FAILED",
          message,
        });
      }
      case "hung":
        log.error(`init attempt ${event.attempt} ignored its abort signal; asking to be replaced`);
        return this.#send({ rota: 1, type: "init-hung", attempt: event.attempt });
    }
  }

  #waitUntil(promise: Promise<unknown>): void {
    const tracked = promise
      .catch((error) => this.#log.error(`waitUntil promise rejected: ${describeError(error)}`))
      .finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  #recycle(reason: "max-requests" | "max-memory", detail: string): void {
    if (this.#recycling) return;
    this.#recycling = true;
    this.#log.info(`asking to be recycled: ${detail}`);
    this.#send({ rota: 1, type: "recycle", reason, detail });
  }

  #watchMemory(): void {
    const { maxMemory } = this.#spec;
    this.#memoryTimer = this.#host.clock.setTimeout(() => {
      const rss = this.#host.memoryUsage();
      if (rss <= maxMemory) return this.#watchMemory();
      this.#recycle("max-memory", `resident memory ${mebibytes(rss)} is above ${mebibytes(maxMemory)}`);
    }, MEMORY_CHECK_MS);
  }

  async #fetch(app: App, gate: InitGate<unknown>, request: Request): Promise<Response> {
    const { maxRequests } = this.#spec;
    if (maxRequests > 0 && ++this.#served >= maxRequests) {
      this.#recycle("max-requests", `answered ${this.#served} requests (limit ${maxRequests})`);
    }
    // Once ready, skip the wait machinery: no extra promise, and no touching
    // `request.signal`, which makes some adapters build a full Request.
    const gateState = gate.state;
    let state: unknown;
    try {
      state = gateState.kind === "ready" ? gateState.state : await gate.acquire(request.signal);
    } catch (error) {
      // The only other rejection is the client going away while it waited.
      return unavailable(
        error instanceof InitUnavailableError ? error : new InitUnavailableError("ERR_ROTA_INIT_PENDING", 1),
      );
    }
    const env: Env = { state, config: this.#config, worker: this.#info, waitUntil: this.#context.waitUntil };
    let response: unknown;
    try {
      response = await app.fetch(request, env, this.#context);
    } catch (error) {
      this.#log.error(`fetch threw: ${describeError(error)}`, {
        url: request.url,
        stack: error instanceof Error ? error.stack : undefined,
      });
      response = internalError();
    }
    if (!isResponse(response)) {
      this.#log.error(`fetch returned ${typeof response}, not a Response`, { url: request.url });
      response = internalError();
    }
    return this.#isDraining() ? closeConnection(response as Response) : (response as Response);
  }

  async #drain(why: string): Promise<void> {
    const phase = this.#phase;
    if (phase.kind === "draining") return;
    this.#phase = { kind: "draining" };
    this.#host.clock.clearTimeout(this.#memoryTimer);
    this.#log.info(`draining (${why})`);
    if (phase.kind === "loading") return this.#exit(0);
    phase.gate.close();
    if (phase.kind === "serving") await this.#finishRequests(phase.listener);
    const state = phase.gate.state;
    try {
      await phase.app.dispose?.({
        state: state.kind === "ready" ? state.state : undefined,
        config: this.#config,
        worker: this.#info,
      });
    } catch (error) {
      this.#log.error(`dispose threw: ${describeError(error)}`);
    }
    this.#exit(0);
  }

  /**
   * Stop accepting, answer on open connections with `Connection: close` for a
   * moment, then close idle ones and wait for in-flight requests.
   */
  async #finishRequests(listener: Listener): Promise<void> {
    const { gracefulTimeout } = this.#spec;
    const graceful = new AbortController();
    const timer = this.#host.clock.setTimeout(() => graceful.abort(), gracefulTimeout);
    listener.stopAccepting();
    await sleep(this.#host.clock, Math.min(DRAIN_SETTLE_MS, gracefulTimeout));
    const finished = await Promise.race([
      Promise.all([listener.close(), ...this.#pending]).then(() => true),
      new Promise<false>((resolve) => graceful.signal.addEventListener("abort", () => resolve(false), { once: true })),
    ]);
    this.#host.clock.clearTimeout(timer);
    if (!finished) {
      this.#log.warn(`graceful timeout of ${gracefulTimeout}ms passed; closing remaining connections`);
      listener.closeAll();
    }
  }
}

function mebibytes(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)}MB`;
}
