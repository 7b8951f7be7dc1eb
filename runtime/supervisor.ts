/**
 * The supervisor: keeps `workers` slots filled, replaces workers replacement
 * first, respawns crashes with back-off, and shuts down in stages.
 *
 * Each slot holds an `active` worker and, while it is being replaced, an
 * `incoming` one. The incoming worker must become ready before the active one
 * is told to drain, so a slot never stops serving because of a replacement;
 * an incoming worker that does not get ready within `startupTimeout` is killed
 * and the active one keeps serving.
 *
 * @module
 */

import { exponentialBackoff } from "./_async.ts";
import type { TimerHandle } from "./clock.ts";
import { ConfigStore, type ConfigTarget } from "./config_store.ts";
import { describeError, RotaError } from "./errors.ts";
import type { Host, ProcessExit, WorkerProcess } from "./host.ts";
import type { Logger } from "./log.ts";
import type { ResolvedOptions } from "./options.ts";
import { parseWorkerMessage, type WorkerMessage } from "./protocol.ts";

/** Where a worker is in its life. */
export type WorkerState = "starting" | "ready" | "failing" | "draining" | "exited";

const TRANSITIONS: Record<WorkerState, readonly WorkerState[]> = {
  starting: ["ready", "failing", "draining", "exited"],
  failing: ["ready", "draining", "exited"],
  ready: ["failing", "draining", "exited"],
  draining: ["exited"],
  exited: [],
};

/** One worker, as `status()` reports it. */
export interface WorkerStatus {
  /** The slot it fills, from 0 to `workers - 1`. */
  readonly slot: number;
  /** How many workers the slot had before this one. */
  readonly generation: number;
  /** Its process id. */
  readonly pid: number;
  /** Where it is in its life. */
  readonly state: WorkerState;
  /** `active` serves the slot; `incoming` is its replacement getting ready. */
  readonly role: "active" | "incoming" | "retired";
}

/** Counters kept by the supervisor. */
export interface SupervisorStats {
  /** Workers replaced by a ready replacement (recycling, reloads). */
  readonly replacements: number;
  /** Unexpected worker exits. */
  readonly crashes: number;
  /** Total time, after the first worker became ready, during which no worker was ready. */
  readonly noWorkerReadyMs: number;
}

/** Why a worker process ended: asked to (it was draining), or not. */
export type WorkerExit =
  | { kind: "retired"; exit: ProcessExit }
  | { kind: "crashed"; exit: ProcessExit; fatal?: { code: string; message: string } };

/** What the supervisor is built with besides the user's options; injectable for tests. */
export interface SupervisorInternals {
  /** The shared configuration. @default {a store holding `{}`, persisted nowhere} */
  config?: ConfigStore;
  /** How much longer than the graceful timeout a draining worker gets (for `dispose`) before SIGKILL. @default {3000} */
  killGrace?: number;
  /** A worker ready this long before it crashed resets its slot's back-off. @default {30000} */
  stableAfter?: number;
  /** Respawn back-off after crashes: first wait, in milliseconds. @default {100} */
  respawnMin?: number;
  /** Respawn back-off: longest wait. @default {30000} */
  respawnMax?: number;
  /** Source of randomness for jitter. @default {Math.random} */
  random?: () => number;
}

interface WorkerRecord {
  readonly slot: Slot;
  readonly generation: number;
  readonly child: WorkerProcess;
  state: WorkerState;
  role: "active" | "incoming" | "retired";
  /** Ready means both: its server accepts, and an init attempt succeeded. */
  listening: boolean;
  initialised: boolean;
  readyAt: number | undefined;
  fatal: { code: string; message: string } | undefined;
  /** The newest configuration version this worker is known to have. */
  configVersion: number;
  readonly timers: Set<TimerHandle>;
}

interface Slot {
  readonly index: number;
  generations: number;
  active: WorkerRecord | undefined;
  incoming: WorkerRecord | undefined;
  crashes: number;
  failedReplacements: number;
  timer: TimerHandle | undefined;
}

type Phase =
  | { kind: "starting"; resolve: () => void; reject: (error: unknown) => void }
  | { kind: "running" }
  /** `code`: what the rota exits with once every worker is gone. */
  | { kind: "stopping"; code: number }
  | { kind: "stopped"; code: number };

/**
 * The supervisor of one rota.
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor(host, options, log);
 * await supervisor.start();
 * await supervisor.close();
 * ```
 */
export class Supervisor {
  #host: Host;
  #options: ResolvedOptions;
  #appUrl: string;
  #log: Logger;
  #tuning: Required<Omit<SupervisorInternals, "config">>;
  #config: ConfigStore;
  #slots: Slot[];
  #live = new Set<WorkerRecord>();
  #queue: Slot[] = [];
  #phase: Phase = { kind: "stopped", code: 0 };
  #announced = false;
  /** Since when no worker has been ready (after the first became ready), and the total so far. */
  #unservedSince: number | undefined;
  #unservedMs = 0;
  #replacements = 0;
  #crashes = 0;
  #everReady = false;
  #closed: Promise<number>;
  #resolveClosed!: (code: number) => void;

  /**
   * @param host The runtime.
   * @param options Checked options; `app` must be an absolute URL.
   * @param log Where the supervisor speaks.
   * @param internals The configuration store and internal timings.
   */
  constructor(host: Host, options: ResolvedOptions, log: Logger, internals: SupervisorInternals = {}) {
    const {
      config = new ConfigStore({ initial: {}, clock: host.clock, log }),
      killGrace = 3000,
      stableAfter = 30000,
      respawnMin = 100,
      respawnMax = 30000,
      random = Math.random,
    } = internals;
    this.#config = config;
    this.#host = host;
    this.#options = options;
    this.#appUrl = options.app;
    this.#log = log;
    this.#tuning = { killGrace, stableAfter, respawnMin, respawnMax, random };
    this.#slots = Array.from({ length: options.workers }, (_, index) => ({
      index,
      generations: 0,
      active: undefined,
      incoming: undefined,
      crashes: 0,
      failedReplacements: 0,
      timer: undefined,
    }));
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Resolves with the exit code once every worker has exited after `close()`. */
  get closed(): Promise<number> {
    return this.#closed;
  }

  /**
   * Start every slot and wait until each has a worker that is ready or
   * failing (alive, answering 503, retrying its init).
   *
   * @returns When the rota is up.
   * @throws {RotaError} When a worker cannot serve at all (a bad module, the
   * port in use); every worker is stopped first.
   */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#phase = { kind: "starting", resolve, reject };
      for (const slot of this.#slots) this.#spawn(slot, "active");
    });
  }

  /** Every live worker. */
  status(): WorkerStatus[] {
    return [...this.#live].map((w) => ({
      slot: w.slot.index,
      generation: w.generation,
      pid: w.child.pid,
      state: w.state,
      role: w.role,
    }));
  }

  /** Replace every worker, one slot at a time, each replacement ready before its predecessor drains. */
  reload(): void {
    if (this.#phase.kind !== "running") return;
    this.#log.info("rolling reload of every worker");
    for (const slot of this.#slots) this.#replace(slot);
  }

  /**
   * Stop gracefully: every worker drains (stop accepting, finish in-flight
   * requests, `dispose`) and is killed after the graceful timeout.
   *
   * @returns The exit code: 0.
   */
  close(): Promise<number> {
    return this.#stop(0);
  }

  #stop(code: number, why = "Stopped while starting"): Promise<number> {
    const phase = this.#phase;
    if (phase.kind === "stopping" || phase.kind === "stopped") return this.#closed;
    if (phase.kind === "starting") phase.reject(new RotaError("ERR_ROTA_STARTUP_FAILED", why));
    this.#phase = { kind: "stopping", code };
    const { replacements, crashes, noWorkerReadyMs } = this.stats();
    this.#log.info("shutting down gracefully", { replacements, crashes, noWorkerReadyMs });
    this.#queue = [];
    for (const slot of this.#slots) this.#host.clock.clearTimeout(slot.timer);
    for (const worker of this.#live) this.#drain(worker);
    this.#settleIfEmpty();
    return this.#closed;
  }

  /**
   * Stop now: SIGKILL every worker.
   *
   * @returns The exit code: 1.
   */
  forceClose(): Promise<number> {
    const phase = this.#phase;
    if (phase.kind === "stopped") return this.#closed;
    if (phase.kind === "starting") phase.reject(new RotaError("ERR_ROTA_STARTUP_FAILED", "Stopped while starting"));
    this.#phase = { kind: "stopping", code: 1 };
    this.#log.warn("forced shutdown: killing every worker");
    for (const slot of this.#slots) this.#host.clock.clearTimeout(slot.timer);
    for (const worker of this.#live) worker.child.kill("SIGKILL");
    this.#settleIfEmpty();
    return this.#closed;
  }

  #spawn(slot: Slot, role: "active" | "incoming"): void {
    if (this.#phase.kind === "stopping" || this.#phase.kind === "stopped") return;
    const generation = slot.generations++;
    const someoneServes = [...this.#live].some((w) => w.state === "ready");
    const { port, hostname, initTimeout, initWait, gracefulTimeout, logFormat, startupTimeout, maxMemory } =
      this.#options;
    let record: WorkerRecord | undefined;
    const early: Array<() => void> = [];
    let child: WorkerProcess;
    try {
      child = this.#host.spawn({
        spec: {
          app: this.#appUrl,
          slot: slot.index,
          generation,
          port,
          hostname,
          initTimeout,
          initWait,
          gracefulTimeout,
          logFormat,
          maxRequests: this.#stagger(slot, this.#options.maxRequests, this.#options.maxRequestsJitter),
          maxMemory,
          config: this.#config.current,
          listen: someoneServes ? "after-init" : "now",
        },
        onMessage: (raw) => record ? this.#onMessage(record, raw) : early.push(() => this.#onMessage(record!, raw)),
        onExit: (exit) => record ? this.#onExit(record, exit) : early.push(() => this.#onExit(record!, exit)),
      });
    } catch (error) {
      slot.generations--;
      return this.#cannotSpawn(slot, role, error);
    }
    record = {
      slot,
      generation,
      child,
      state: "starting",
      role,
      listening: false,
      initialised: false,
      readyAt: undefined,
      fatal: undefined,
      configVersion: this.#config.current.version,
      timers: new Set(),
    };
    slot[role] = record;
    this.#live.add(record);
    this.#after(record, startupTimeout, () => this.#onStartupTimeout(record!));
    this.#log.info(`started worker ${slot.index}.${generation}`, { pid: child.pid, role });
    early.forEach((replay) => replay());
  }

  /** Starting a process failed (the runtime refused): like a crash, retried with back-off. */
  #cannotSpawn(slot: Slot, role: "active" | "incoming", error: unknown): void {
    const message = `Cannot start a worker process: ${describeError(error)}`;
    this.#log.error(message);
    if (this.#phase.kind === "starting") {
      return this.#abortStart(new RotaError("ERR_ROTA_STARTUP_FAILED", message, { cause: error }));
    }
    if (role === "incoming") {
      slot.failedReplacements++;
      return this.#retryLater(slot, slot.failedReplacements, () => this.#replace(slot));
    }
    slot.crashes++;
    this.#retryLater(slot, slot.crashes, () => this.#spawn(slot, "active"));
  }

  /**
   * `limit` plus this slot's share of `spread`: slot i of W adds
   * `round(spread * i / W)`, so slots reach their limits one after another.
   */
  #stagger(slot: Slot, limit: number, spread: number): number {
    if (limit <= 0) return 0;
    return limit + Math.round((spread * slot.index) / this.#slots.length);
  }

  #after(worker: WorkerRecord, ms: number, fn: () => void): void {
    const timer = this.#host.clock.setTimeout(() => {
      worker.timers.delete(timer);
      fn();
    }, ms);
    worker.timers.add(timer);
  }

  #transition(worker: WorkerRecord, next: WorkerState): boolean {
    if (worker.state === next) return false;
    if (!TRANSITIONS[worker.state].includes(next)) return false;
    worker.state = next;
    this.#accountReadiness();
    return true;
  }

  /** Keep the total time during which no worker was ready (the seed's stall), for `stats()`. */
  #accountReadiness(): void {
    const now = this.#host.clock.now();
    const anyReady = [...this.#live].some((w) => w.state === "ready");
    if (anyReady) {
      this.#everReady = true;
      if (this.#unservedSince !== undefined) this.#unservedMs += now - this.#unservedSince;
      this.#unservedSince = undefined;
    } else if (this.#everReady && this.#unservedSince === undefined && this.#phase.kind === "running") {
      this.#unservedSince = now;
    }
  }

  /** Counters since the start: replacements done and milliseconds with no worker ready. */
  stats(): SupervisorStats {
    const open = this.#unservedSince === undefined ? 0 : this.#host.clock.now() - this.#unservedSince;
    return {
      replacements: this.#replacements,
      crashes: this.#crashes,
      noWorkerReadyMs: Math.round(this.#unservedMs + open),
    };
  }

  #name(worker: WorkerRecord): string {
    return `worker ${worker.slot.index}.${worker.generation} (pid ${worker.child.pid})`;
  }

  #onMessage(worker: WorkerRecord, raw: unknown): void {
    const parsed = parseWorkerMessage(raw);
    if (!parsed.ok) {
      this.#log.warn(`ignored a malformed message from ${this.#name(worker)}: ${parsed.reason}`);
      return;
    }
    this.#handle(worker, parsed.message);
  }

  #handle(worker: WorkerRecord, message: WorkerMessage): void {
    switch (message.type) {
      case "listening":
        if (!this.#announced) {
          this.#announced = true;
          this.#log.info(`listening on http://${this.#options.hostname}:${this.#options.port}`);
        }
        worker.listening = true;
        // A version published while the worker was loading may have found no listener yet.
        if (worker.configVersion < this.#config.current.version) this.#sendConfig(worker);
        return this.#becomeReady(worker);
      case "init-ok":
        worker.initialised = true;
        return this.#becomeReady(worker);
      case "init-failed":
        if (worker.state === "starting" || worker.state === "ready") {
          this.#transition(worker, "failing");
          this.#log.warn(
            `${
              this.#name(worker)
            } is failing: init attempt ${message.attempt} failed (${message.code}); it stays up and retries`,
          );
        }
        this.#checkStarted();
        return;
      case "init-hung":
        this.#log.error(`${this.#name(worker)}: init attempt ${message.attempt} ignores its abort signal`);
        if (worker.role === "incoming") worker.child.kill("SIGKILL");
        else this.#replace(worker.slot);
        return;
      case "fatal":
        worker.fatal = { code: message.code, message: message.message };
        return;
      case "recycle":
        this.#recycle(worker, message.detail);
        return;
      case "publish":
        this.#publish(worker, message.id, message.value, message.ifVersion);
        return;
      case "config-ack":
        worker.configVersion = Math.max(worker.configVersion, message.version);
        this.#config.acknowledge(worker, message.version, message.ok, message.message);
        return;
    }
  }

  #configTargets(): ConfigTarget[] {
    return [...this.#live].map((worker) => ({
      key: worker,
      slot: worker.slot.index,
      generation: worker.generation,
      pid: worker.child.pid,
      send: (message) => worker.child.send(message),
    }));
  }

  #sendConfig(worker: WorkerRecord): void {
    const { version, value } = this.#config.current;
    worker.child.send({ rota: 1, type: "config", version, value });
  }

  #publish(worker: WorkerRecord, id: number, value: unknown, ifVersion: number | undefined): void {
    this.#config.publish(value, ifVersion, () => this.#configTargets()).then(
      ({ version, failed }) => {
        this.#log.info(`configuration version ${version} published by ${this.#name(worker)}`);
        worker.child.send({ rota: 1, type: "publish-result", id, ok: true, version, failed: [...failed] });
      },
      (error) => {
        const code = error instanceof RotaError ? error.code : "ERR_ROTA_CONFIG";
        worker.child.send({ rota: 1, type: "publish-result", id, ok: false, code, message: describeError(error) });
      },
    );
  }

  /**
   * Re-read the configuration from `text` (the `--config` file) and publish it
   * when it changed.
   *
   * @param text The file's content.
   * @param path The file, for messages.
   * @returns When every worker applied it, or it was ignored.
   */
  adoptConfigFile(text: string, path: string): Promise<void> {
    return this.#config.adoptFile(text, path, () => this.#configTargets());
  }

  #recycle(worker: WorkerRecord, why: string): void {
    if (worker.role !== "active" || worker.state === "draining" || worker.state === "exited") return;
    this.#log.info(`recycling ${this.#name(worker)}: ${why}`);
    this.#replace(worker.slot);
  }

  #scheduleLifetime(worker: WorkerRecord): void {
    const { maxLifetime } = this.#options;
    if (maxLifetime <= 0) return;
    const lifetime = this.#stagger(worker.slot, maxLifetime, maxLifetime / 10);
    this.#after(worker, lifetime, () => this.#recycle(worker, `lived ${lifetime}ms (max lifetime)`));
  }

  #becomeReady(worker: WorkerRecord): void {
    if (!worker.listening || !worker.initialised || !this.#transition(worker, "ready")) return;
    if (worker.readyAt === undefined) {
      worker.readyAt = this.#host.clock.now();
      this.#scheduleLifetime(worker);
    }
    if (worker.role === "incoming") this.#promote(worker.slot);
    this.#checkStarted();
  }

  #checkStarted(): void {
    const phase = this.#phase;
    if (phase.kind !== "starting") return;
    const settled = this.#slots.every((s) => s.active?.state === "ready" || s.active?.state === "failing");
    if (!settled) return;
    this.#phase = { kind: "running" };
    const ready = this.#slots.filter((s) => s.active?.state === "ready").length;
    this.#log.info(`${ready} of ${this.#slots.length} workers ready`);
    phase.resolve();
  }

  #onStartupTimeout(worker: WorkerRecord): void {
    const notReady = worker.role === "incoming" ? worker.state !== "ready" : worker.state === "starting";
    if (!notReady || worker.state === "exited" || worker.state === "draining") return;
    this.#log.error(`${this.#name(worker)} was not ready within ${this.#options.startupTimeout}ms; killing it`);
    worker.child.kill("SIGKILL");
  }

  #onExit(worker: WorkerRecord, exit: ProcessExit): void {
    const wasDraining = worker.state === "draining";
    worker.state = "exited";
    this.#live.delete(worker);
    this.#config.forget(worker);
    this.#accountReadiness();
    if (!wasDraining) this.#crashes++;
    for (const timer of worker.timers) this.#host.clock.clearTimeout(timer);
    const { slot } = worker;
    const ended: WorkerExit = wasDraining ? { kind: "retired", exit } : { kind: "crashed", exit, fatal: worker.fatal };
    this.#report(worker, ended);

    if (slot.active === worker) slot.active = undefined;
    if (slot.incoming === worker) slot.incoming = undefined;

    const phase = this.#phase;
    if (phase.kind === "stopping" || phase.kind === "stopped") return this.#settleIfEmpty();
    if (ended.kind === "retired") return this.#pump();

    if (phase.kind === "starting" && ended.fatal) {
      return this.#abortStart(new RotaError(ended.fatal.code as RotaError["code"], ended.fatal.message));
    }
    if (worker.role === "incoming") {
      // A replacement that failed: the active worker keeps serving; try again later.
      slot.failedReplacements++;
      this.#retryLater(slot, slot.failedReplacements, () => this.#replace(slot));
      return this.#pump();
    }
    if (worker.role === "active") {
      const stable = worker.readyAt !== undefined &&
        this.#host.clock.now() - worker.readyAt >= this.#tuning.stableAfter;
      slot.crashes = stable ? 1 : slot.crashes + 1;
      const { maxRestarts } = this.#options;
      if (maxRestarts > 0 && slot.crashes > maxRestarts) {
        const why =
          `slot ${slot.index} crashed ${slot.crashes} times in a row (--max-restarts ${maxRestarts}): giving up`;
        this.#log.error(`${why}, exit code 1, for the service manager to restart rota`);
        return void this.#stop(1, why);
      }
      if (slot.incoming) return this.#adoptIncoming(slot);
      this.#retryLater(slot, slot.crashes, () => this.#spawn(slot, "active"));
    }
  }

  #report(worker: WorkerRecord, ended: WorkerExit): void {
    const how = ended.exit.signal ? `signal ${ended.exit.signal}` : `code ${ended.exit.code}`;
    if (ended.kind === "retired") {
      this.#log.info(`${this.#name(worker)} exited (${how})`);
    } else if (ended.fatal) {
      this.#log.error(`${this.#name(worker)} cannot serve: ${ended.fatal.message}`, { code: ended.fatal.code });
    } else {
      this.#log.error(`${this.#name(worker)} exited unexpectedly (${how})`);
    }
  }

  #retryLater(slot: Slot, failures: number, fn: () => void): void {
    const { respawnMin, respawnMax, random } = this.#tuning;
    const wait = exponentialBackoff(
      failures - 1,
      { minTimeout: respawnMin, maxTimeout: respawnMax, jitter: 0.2 },
      random,
    );
    if (failures > 1) this.#log.warn(`slot ${slot.index}: retrying in ${wait}ms after ${failures} failures`);
    this.#host.clock.clearTimeout(slot.timer);
    slot.timer = this.#host.clock.setTimeout(() => {
      slot.timer = undefined;
      if (this.#phase.kind === "running" || this.#phase.kind === "starting") fn();
    }, wait);
  }

  #adoptIncoming(slot: Slot): void {
    // The active worker died while its replacement starts: the replacement
    // becomes the slot's worker now, ready or not.
    const incoming = slot.incoming!;
    slot.incoming = undefined;
    slot.active = incoming;
    incoming.role = "active";
    this.#pump();
  }

  #replace(slot: Slot): void {
    if (slot.incoming || this.#queue.includes(slot)) return;
    this.#queue.push(slot);
    this.#pump();
  }

  #pump(): void {
    if (this.#phase.kind !== "running") return;
    const surge = this.#slots.filter((s) => s.incoming).length;
    let room = this.#options.maxSurge - surge;
    while (room > 0 && this.#queue.length > 0) {
      const slot = this.#queue.shift()!;
      if (slot.incoming || slot.timer !== undefined) continue;
      if (!slot.active) continue;
      this.#spawn(slot, "incoming");
      room--;
    }
  }

  #promote(slot: Slot): void {
    const incoming = slot.incoming;
    if (!incoming) return;
    const outgoing = slot.active;
    slot.active = incoming;
    slot.incoming = undefined;
    slot.failedReplacements = 0;
    incoming.role = "active";
    this.#replacements++;
    this.#log.info(`${this.#name(incoming)} is ready and replaces ${outgoing ? this.#name(outgoing) : "nobody"}`);
    if (outgoing) this.#drain(outgoing);
    this.#pump();
  }

  #drain(worker: WorkerRecord): void {
    if (!this.#transition(worker, "draining")) return;
    worker.role = "retired";
    worker.child.send({ rota: 1, type: "drain" });
    this.#after(worker, this.#options.gracefulTimeout + this.#tuning.killGrace, () => {
      this.#log.warn(`${this.#name(worker)} did not exit after draining; killing it`);
      worker.child.kill("SIGKILL");
    });
  }

  #abortStart(error: RotaError): void {
    const phase = this.#phase;
    if (phase.kind !== "starting") return;
    this.#phase = { kind: "stopping", code: 0 };
    for (const slot of this.#slots) this.#host.clock.clearTimeout(slot.timer);
    for (const worker of this.#live) this.#drain(worker);
    phase.reject(error);
    this.#settleIfEmpty();
  }

  #settleIfEmpty(): void {
    const phase = this.#phase;
    if (phase.kind !== "stopping" || this.#live.size > 0) return;
    this.#phase = { kind: "stopped", code: phase.code };
    this.#resolveClosed(phase.code);
  }
}
