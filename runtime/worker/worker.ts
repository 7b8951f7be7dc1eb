/**
 * A worker's life, from its first moment to its exit: hear the supervisor,
 * import the app, start the init gate, listen, answer requests through the
 * gate, and drain when told. The parts live beside it:
 *
 * - `init_gate.ts`: the init-hook contract;
 * - `handler.ts`: one request, as a pure function;
 * - `config_client.ts`: `env.config`, publishes and `reload` ordering;
 * - `server_switch.ts`: the server, on only while the worker should accept;
 * - `warmup.ts`: the app's warm-up requests, before a new worker takes connections;
 * - `recycle_limits.ts`: max-requests;
 * - `request_limits.ts`: max-body and request-timeout;
 * - `heartbeat.ts` and `in_flight.ts`: the beat the supervisor's watchdog
 *   listens for, and the running requests it reports;
 * - `health.ts`: the health paths on the app port, answered before the app;
 * - `request_metrics.ts`: request durations for the heartbeat, the access log;
 * - `wait_until.ts`: work left behind by requests;
 * - `request_env.ts` and `web_sockets.ts`: the `env` a request sees (the
 *   client's address, a WebSocket upgrade), and the open WebSockets;
 * - `drain.ts`: the staged drain of the server.
 *
 * @module
 */

import { type App, loadApp, type WorkerInfo } from "../app.ts";
import { sleep } from "../clock.ts";
import { describeError, RotaError } from "../errors.ts";
import type { WorkerChannel, WorkerHost } from "../host.ts";
import { createLogger, type Logger } from "../log.ts";
import { parseSupervisorMessage, parseWorkerSpec, type WorkerMessage, type WorkerSpec } from "../protocol.ts";
import { WarningThrottle } from "../warning_throttle.ts";
import { ConfigClient } from "./config_client.ts";
import { drainServer } from "./drain.ts";
import { closeConnection, type HandlerEnv, handleRequest } from "./handler.ts";
import { HealthPaths } from "./health.ts";
import { Heartbeat, type HeartbeatReading } from "./heartbeat.ts";
import { InFlight } from "./in_flight.ts";
import { type InitEvent, InitGate } from "./init_gate.ts";
import { RecycleLimits } from "./recycle_limits.ts";
import { requestEnv, type WorkerEnv } from "./request_env.ts";
import { RequestLimits } from "./request_limits.ts";
import { RequestMetrics } from "./request_metrics.ts";
import { StreamGuards } from "./response_stream.ts";
import { ServerSwitch, shouldAccept } from "./server_switch.ts";
import { warmUp } from "./warmup.ts";
import { PendingWork } from "./wait_until.ts";
import { OpenSockets } from "./web_sockets.ts";

/** The longest a worker signalled by itself waits for the supervisor to say whether the whole rota stops. */
const SUPERVISOR_WORD_MS = 250;

/** The longest a worker waits for its first heartbeat to be written out before it imports the app. */
const FIRST_BEAT_WAIT_MS = 1000;

/** Where the worker is. Messages and signals are heard from the very start, in every phase. */
type Phase =
  | { kind: "loading" }
  | { kind: "running"; app: App; gate: InitGate<unknown>; server: ServerSwitch }
  | { kind: "draining" };

/**
 * Run this process as a worker until it is drained.
 *
 * @param host The runtime, worker side.
 * @param channel The channel to the supervisor.
 * @returns Once the worker serves (or has asked to exit).
 * @throws {TypeError} When the spec the supervisor sent is malformed.
 * @example
 * ```ts
 * const channel = host.workerChannel();
 * if (channel) await runWorker(host, channel);
 * ```
 */
export function runWorker(host: WorkerHost, channel: WorkerChannel): Promise<void> {
  return new WorkerLifecycle(host, channel, parseWorkerSpec(channel.spec)).run();
}

class WorkerLifecycle {
  #host: WorkerHost;
  #channel: WorkerChannel;
  #spec: WorkerSpec;
  #info: WorkerInfo;
  #log: Logger;
  #phase: Phase = { kind: "loading" };
  #config: ConfigClient;
  #pending: PendingWork;
  #limits: RecycleLimits;
  #peersReady: number;
  /** The app's warm-up: not run yet, running, or done (or skipped: nobody else served). */
  #warm: "cold" | "warming" | "warm" = "cold";
  /** Stops a running warm-up (the worker drains, or nobody else serves any more). */
  #warmStop = new AbortController();
  /** Resolves a `hold` asked of the supervisor before listening. */
  #holding: (() => void) | undefined;
  #throttle: WarningThrottle;
  #inFlight: InFlight;
  #sockets: OpenSockets;
  #heartbeat: Heartbeat;
  /** The init attempt running now, for the heartbeat. */
  #initRunning: number | undefined;
  #health: HealthPaths;
  #requests: RequestMetrics;
  #teardown: Array<() => void> = [];

  constructor(host: WorkerHost, channel: WorkerChannel, spec: WorkerSpec) {
    this.#host = host;
    this.#channel = channel;
    this.#spec = spec;
    this.#info = { slot: spec.slot, generation: spec.generation, pid: host.pid(), runtime: host.runtime };
    this.#log = createLogger({
      format: spec.logFormat,
      name: `worker ${spec.slot}.${spec.generation}`,
      pid: this.#info.pid,
      slot: spec.slot,
      fields: spec.logFormat === "json" ? { generation: spec.generation } : {},
      color: spec.logColor,
      write: host.writeLog,
    });
    this.#health = new HealthPaths({ prefix: spec.healthPrefix, initial: spec.health, clock: host.clock });
    this.#requests = new RequestMetrics({ clock: host.clock, accessLog: spec.accessLog, write: host.writeOut });
    this.#pending = new PendingWork(this.#log);
    this.#peersReady = spec.peersReady;
    this.#config = new ConfigClient({
      initial: spec.config,
      send: (message) => this.#send(message),
      reload: () => this.#runReload(),
      log: this.#log,
    });
    this.#limits = new RecycleLimits({
      maxRequests: spec.maxRequests,
      onLimit: (reason, detail) => {
        this.#log.info(`asking to be recycled: ${detail}`, { event: "recycle" });
        this.#send({ rota: 1, type: "recycle", reason, detail });
      },
    });
    this.#throttle = new WarningThrottle({ log: this.#log, clock: host.clock });
    this.#heartbeat = new Heartbeat({
      clock: host.clock,
      interval: spec.heartbeatInterval,
      read: () => this.#reading(),
      send: (message) => this.#channel.send(message),
    });
    this.#inFlight = new InFlight({ clock: host.clock, announce: () => this.#heartbeat.pulse() });
    this.#sockets = new OpenSockets({ log: this.#log, clock: host.clock });
  }

  /** What the heartbeat reports: where the worker is, its requests and its memory. */
  #reading(): HeartbeatReading {
    const oldest = this.#inFlight.oldest();
    const phase = this.#phase;
    return {
      phase: phase.kind === "running" ? (phase.server.accepting ? "serving" : "starting") : phase.kind,
      initAttempt: this.#initRunning,
      requests: this.#inFlight.finished,
      inFlight: this.#inFlight.size,
      rss: this.#host.memoryUsage(),
      heapUsed: this.#host.heapUsed(),
      ...(oldest ? { oldestMethod: oldest.method, oldestPath: oldest.path, oldestMs: oldest.ageMs } : {}),
      requestSeconds: this.#requests.take(),
    };
  }

  async run(): Promise<void> {
    const host = this.#host;
    this.#teardown = [
      this.#channel.onMessage((raw) => this.#onMessage(raw)),
      this.#channel.onDisconnect(() => {
        // Nobody will answer a publish now: a request waiting on one gets its error.
        this.#config.abandon();
        // A drain already waiting for the supervisor's word has it: the whole rota stops.
        this.#health.supervisorGone();
        void this.#drain("the supervisor went away", { own: true, final: true });
      }),
      host.onSignal("SIGTERM", () => void this.#drain("SIGTERM", { own: true, signalled: true })),
      host.onSignal("SIGINT", () => void this.#drain("SIGINT", { own: true, signalled: true })),
      // SIGHUP is for the supervisor (a terminal hang-up reaches the whole group).
      host.onSignal("SIGHUP", () => {}),
      () => this.#heartbeat.stop(),
      () => this.#throttle.flush(),
    ];
    this.#send({ rota: 1, type: "hello" });
    // Before the app is imported, and written out before it is (on Deno a message can
    // otherwise wait for a loop turn that an import blocking the loop never gives it):
    // an import or init that blocks the loop then falls silent where the watchdog hears it.
    await Promise.race([this.#heartbeat.start(), sleep(host.clock, FIRST_BEAT_WAIT_MS)]);
    if (this.#isDraining()) return;

    let app: App;
    try {
      const { module } = await host.importModule(this.#spec.app);
      app = loadApp(module, this.#spec.app);
    } catch (error) {
      return this.#fatal(error);
    }
    if (this.#isDraining()) return;

    const spec = this.#spec;
    const gate = new InitGate<unknown>({
      init: ({ signal, attempt }) => app.init?.({ signal, attempt, config: this.#config.view, worker: this.#info }),
      clock: host.clock,
      timeout: spec.initTimeout,
      wait: spec.initWait,
      onEvent: (event) => this.#reportInit(event),
    });
    const workerEnv: WorkerEnv = {
      config: this.#config.view,
      worker: this.#info,
      waitUntil: (promise) => this.#pending.add(promise),
      sockets: this.#sockets,
      acceptsWebSockets: () => !this.#isDraining(),
    };
    const handlerEnv: HandlerEnv = {
      app,
      gate,
      env: (state, _context, connection) => requestEnv(workerEnv, state, connection),
      // Draining, or paused while others serve: keep-alive clients should move on.
      closeConnections: () => this.#isDraining() || !server.accepting,
      waitUntil: (promise) => this.#pending.add(promise),
      log: this.#log,
      inFlight: this.#inFlight,
      limits: new RequestLimits({
        requestTimeout: spec.requestTimeout,
        maxBody: spec.maxBody,
        clock: host.clock,
        warn: (kind, message) => this.#throttle.warn(kind, message),
      }),
      streams: new StreamGuards(this.#log),
    };
    let guarding = false;
    const server = new ServerSwitch(host, {
      hostname: spec.hostname,
      port: spec.port,
      fetch: (request, connection) => {
        // Health first: never the app, its gate, its limits or its counts.
        const health = this.#health.answer(request);
        if (health) return handlerEnv.closeConnections() ? closeConnection(health, connection) : health;
        this.#limits.countRequest();
        const start = this.#requests.start();
        const answer = handleRequest(request, handlerEnv, connection, start);
        if (answer instanceof Promise) {
          return answer.then((response) => {
            this.#requests.answered(request, response, start);
            return response;
          });
        }
        this.#requests.answered(request, answer, start);
        return answer;
      },
      warn: (message) => this.#log.warn(message),
      webSockets: {
        handlers: app.websocket,
        accepting: workerEnv.acceptsWebSockets,
        track: (events) => this.#sockets.track(events),
      },
    }, {
      onChange: (event) => {
        // After the first listen: the adapter may have replaced the global Response, which this one extends.
        if (event === "listening" && !guarding) {
          guarding = true;
          this.#teardown.push(handlerEnv.streams!.install());
        }
        this.#send({ rota: 1, type: event });
        this.#heartbeat.pulse();
      },
      beforeListen: () => this.#askHold(),
    });
    this.#phase = { kind: "running", app, gate, server };
    this.#heartbeat.pulse();
    void gate.start();
    this.#send({ rota: 1, type: "loaded" });
    await this.#reconcileServer();
  }

  /** Run the app's warm-up, then take connections. */
  async #startWarmUp(): Promise<void> {
    const phase = this.#phase;
    const gate = phase.kind === "running" ? phase.gate.state : undefined;
    if (phase.kind !== "running" || gate?.kind !== "ready" || !phase.app.warmup) return;
    this.#warm = "warming";
    const { requests, ms } = await warmUp({
      app: phase.app,
      warmup: phase.app.warmup,
      origin: `http://${this.#spec.hostname}:${this.#spec.port}`,
      env: (context) => ({
        state: gate.state,
        config: this.#config.view,
        worker: this.#info,
        waitUntil: context.waitUntil,
      }),
      clock: this.#host.clock,
      log: this.#log,
      signal: this.#warmStop.signal,
    });
    this.#warm = "warm";
    this.#log.info(`warmed up: ${requests} requests in ${ms}ms`);
    await this.#reconcileServer();
  }

  /** Ask the supervisor to hold its messages while this worker listens (see the `hold` message). */
  #askHold(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#holding = resolve;
      this.#send({ rota: 1, type: "hold" });
    });
  }

  #holdGranted(): void {
    const granted = this.#holding;
    this.#holding = undefined;
    granted?.();
  }

  /**
   * Accept connections while init has succeeded (and the warm-up, if the app
   * has one, is done), or while no other worker is ready.
   */
  async #reconcileServer(): Promise<void> {
    const phase = this.#phase;
    if (phase.kind !== "running") return;
    const initialised = phase.gate.state.kind === "ready";
    if (initialised && this.#warm === "cold") {
      if (phase.app.warmup && this.#peersReady > 0) return this.#startWarmUp();
      this.#warm = "warm";
    }
    if (this.#warm === "warming" && this.#peersReady === 0) this.#warmStop.abort();
    try {
      await phase.server.want(shouldAccept(initialised && this.#warm === "warm", this.#peersReady));
    } catch (error) {
      this.#fatal(error);
    }
  }

  /** A method, not a property read, so that checks after an `await` are not narrowed away. */
  #isDraining(): boolean {
    return this.#phase.kind === "draining";
  }

  #send(message: WorkerMessage): void {
    void this.#channel.send(message);
  }

  #exit(code: number): void {
    // The last requests' durations go out before the channel closes, their access log lines before the process ends.
    this.#heartbeat.pulse();
    this.#requests.flush();
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
      this.#throttle.warn("the supervisor", `ignored a malformed message from the supervisor: ${parsed.reason}`);
      return;
    }
    const message = parsed.message;
    this.#health.heard();
    switch (message.type) {
      case "drain":
        return void this.#drain("asked by the supervisor", { own: false });
      case "holding":
        return this.#holdGranted();
      case "peers":
        this.#peersReady = message.ready;
        return void this.#reconcileServer();
      case "health":
        return this.#health.update(message);
      case "config":
        return this.#config.apply(message.version, message.value);
      case "publish-result":
        return this.#config.settle(message);
    }
  }

  /**
   * The app's `reload` for the current configuration, once init has succeeded.
   * An init still running may have read the previous value: `reload` runs once
   * it succeeded (and not at all when it failed, since the next attempt reads
   * the current value), so that a worker acknowledges a version only after its
   * state has seen it.
   */
  #runReload(): Promise<void> | undefined {
    const phase = this.#phase;
    if (phase.kind !== "running") return undefined;
    const reload = phase.app.reload;
    if (!reload) return undefined;
    return (async () => {
      const running = phase.gate.state;
      if (running.kind === "running") await running.promise.catch(() => {});
      const state = phase.gate.state;
      if (state.kind !== "ready") return;
      await reload({ state: state.state, config: this.#config.view, worker: this.#info });
    })();
  }

  #reportInit(event: InitEvent): void {
    const log = this.#log;
    switch (event.type) {
      case "attempt":
        this.#initRunning = event.attempt;
        // Said now: an init that blocks the loop must be named in the watchdog's line.
        this.#heartbeat.pulse();
        if (event.attempt > 1) log.info(`init attempt ${event.attempt}`, { event: "init.attempt" });
        return;
      case "ready":
        this.#initRunning = undefined;
        this.#heartbeat.pulse();
        log.info(`init succeeded on attempt ${event.attempt} in ${Math.round(event.ms)}ms`, { event: "init.ok" });
        this.#send({ rota: 1, type: "init-ok", attempt: event.attempt, ms: event.ms });
        return void this.#reconcileServer();
      case "failed": {
        this.#initRunning = undefined;
        this.#heartbeat.pulse();
        const code = (event.error as { code?: unknown })?.code;
        const message = describeError(event.error);
        log.error(`init attempt ${event.attempt} failed: ${message}`, {
          event: "init.failed",
          nextAttemptInMs: Math.round(event.nextAttemptInMs),
          stack: event.error instanceof Error ? event.error.stack : undefined,
        });
        return this.#send({
          rota: 1,
          type: "init-failed",
          attempt: event.attempt,
          code: typeof code === "string" ? code : "ERR_ROTA_INIT_FAILED",
          message,
          ms: event.ms,
        });
      }
      case "hung":
        log.error(`init attempt ${event.attempt} ignored its abort signal; asking to be replaced`, {
          event: "init.hung",
        });
        return this.#send({ rota: 1, type: "init-hung", attempt: event.attempt });
    }
  }

  async #drain(
    why: string,
    { own, final = false, signalled = false }: { own: boolean; final?: boolean; signalled?: boolean },
  ): Promise<void> {
    const phase = this.#phase;
    if (phase.kind === "draining") return;
    this.#phase = { kind: "draining" };
    const drainStarted = this.#host.clock.now();
    this.#warmStop.abort();
    this.#heartbeat.pulse();
    this.#log.info(`draining (${why})`, { event: "worker.draining" });
    // The supervisor must know this worker leaves by itself: it is then replaced, not counted as a crash.
    if (own) this.#send({ rota: 1, type: "draining", reason: why });
    if (phase.kind === "loading") return this.#exit(0);
    phase.gate.close();
    // A listen waiting for the supervisor's answer will not happen now: close() marks the server closed at once.
    this.#holdGranted();
    const closing = phase.server.close();
    // The whole rota stops (the supervisor said so, or is gone): no worker takes over the port. A signal of the
    // worker's own may have gone to the whole process group (Ctrl-C, systemd's default KillMode): the supervisor
    // then says "stopping" at once; a worker signalled alone waits that long before it drains, as a replaced one.
    const whole = final ||
      (signalled ? await this.#health.stopping(SUPERVISOR_WORD_MS) : this.#health.phase === "stopping");
    const listener = await closing;
    if (listener) {
      await drainServer(listener, {
        final: whole,
        clock: this.#host.clock,
        gracefulTimeout: this.#spec.gracefulTimeout,
        // The grace counts from the drain's start, the wait for the supervisor's word included.
        spent: this.#host.clock.now() - drainStarted,
        pending: () => this.#pending.settled(),
        log: this.#log,
        sockets: this.#sockets,
      });
    }
    // An init that ignored its abort signal may still run: dispose waits for it, as long as the grace allows.
    const left = Math.max(0, this.#spec.gracefulTimeout - (this.#host.clock.now() - drainStarted));
    await Promise.race([phase.gate.settled(), sleep(this.#host.clock, left)]);
    const state = phase.gate.state;
    try {
      await phase.app.dispose?.({
        state: state.kind === "ready" ? state.state : undefined,
        config: this.#config.view,
        worker: this.#info,
      });
    } catch (error) {
      this.#log.error(`dispose threw: ${describeError(error)}`, {
        event: "dispose.failed",
        stack: error instanceof Error ? error.stack : undefined,
      });
    }
    this.#exit(0);
  }
}
