/**
 * The supervisor, or arbiter: it keeps `workers` slots filled. It spawns
 * workers, hears what they say, reaps them, and decides what follows; the
 * decisions themselves live beside it, one concept a file:
 *
 * - `worker_record.ts`: one worker and its one transition function;
 * - `rollout.ts`: replacement-first recycling, at most `maxSurge` at a time;
 * - `restart_policy.ts`: respawn after how long, or give up;
 * - `availability.ts`: the time with no worker ready;
 * - `worker_spec.ts`: what a new worker is told;
 * - `config_store.ts` and `config_file.ts`: the shared configuration;
 * - `watchdog.ts`: heartbeat deadlines, for workers whose event loop is blocked;
 * - `memory_watch.ts`: each worker's resident memory against the soft and hard limits;
 * - `health_broadcast.ts`: the rota's health, told to every worker (the health paths);
 * - `snapshot_source.ts`: counters, histograms and events, and the snapshot operations read;
 * - `reload_progress.ts` and `events.ts`: when a rolling reload is over, and the
 *   lifecycle events (started, reloading, reloaded, stopping, stopped) operations hear.
 *
 * Each slot holds an `active` worker and, while it is being replaced, an
 * `incoming` one. The incoming worker must become ready before the active one
 * is told to drain, so a slot never stops serving because of a replacement;
 * an incoming worker that does not get ready within `startupTimeout` is killed
 * and the active one keeps serving.
 *
 * @module
 */

import type { TimerHandle } from "../clock.ts";
import { describeError, RotaError, type RotaErrorCode } from "../errors.ts";
import type { ProcessExit, SupervisorHost, WorkerProcess } from "../host.ts";
import type { LogFields, Logger } from "../log.ts";
import type { RotaSnapshot } from "../ops/snapshot.ts";
import type { ResolvedOptions } from "../options.ts";
import { type HeartbeatMessage, parseWorkerMessage, type RotaHealth, type WorkerMessage } from "../protocol.ts";
import { VERSION } from "../version.ts";
import { WarningThrottle } from "../warning_throttle.ts";
import { AvailabilityClock } from "./availability.ts";
import { Listeners, type RotaLifecycle } from "./events.ts";
import { HealthBroadcast } from "./health_broadcast.ts";
import { ReloadProgress } from "./reload_progress.ts";
import { type RecycleReason, SnapshotSource } from "./snapshot_source.ts";
import type { ConfigFile } from "./config_file.ts";
import { ConfigStore, type ConfigTarget } from "./config_store.ts";
import { type CrashHistory, decideRestart, type RestartPolicy } from "./restart_policy.ts";
import { Rollout } from "./rollout.ts";
import { hardMemoryLimit, MemoryWatch } from "./memory_watch.ts";
import { describeActivity, Watchdog } from "./watchdog.ts";
import { buildWorkerSpec, stagger } from "./worker_spec.ts";
import {
  isListening,
  isServing,
  type WorkerEvent,
  type WorkerExit,
  WorkerRecord,
  type WorkerState,
} from "./worker_record.ts";

export type { WorkerExit, WorkerState };

/**
 * Where a worker is in its life, as `status()` reports it: `loading` its app,
 * `starting` (first init running), `initialised` (not listening yet), `ready`,
 * `failing` (init failed, retrying), `draining`, `fatal` (cannot serve,
 * exiting), `killed` (by the watchdog), `exited`.
 */
export type WorkerStateName =
  | "loading"
  | "starting"
  | "initialised"
  | "ready"
  | "failing"
  | "draining"
  | "fatal"
  | "killed"
  | "exited";

// The public names and the state machine's kinds must stay the same set.
const _sameNames: [WorkerStateName, WorkerState["kind"]] extends [WorkerState["kind"], WorkerStateName] ? true
  : never = true;

/** One worker, as `status()` reports it. */
export interface WorkerStatus {
  /** The slot it fills, from 0 to `workers - 1`. */
  readonly slot: number;
  /** How many workers the slot had before this one. */
  readonly generation: number;
  /** Its process id. */
  readonly pid: number;
  /** Where it is in its life. */
  readonly state: WorkerStateName;
  /** `active` serves the slot; `incoming` is its replacement getting ready; `retired` is on its way out. */
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
  /** Workers killed by the watchdog because their heartbeats stopped. */
  readonly watchdogKills: number;
}

/** The supervisor's own timings, injectable for tests. */
export interface SupervisorTuning {
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
  /**
   * How long after a worker said it drains on its own its replacement starts:
   * long enough for a signal sent to the whole process group to reach the
   * supervisor too. @default {250}
   */
  ownDrainGrace?: number;
  /** Epoch milliseconds, for snapshots and events. @default {Date.now} */
  wallClock?: () => number;
}

/** What a supervisor is built with. */
export interface SupervisorInit {
  /** Checked options; `app` must be an absolute URL. */
  options: ResolvedOptions;
  /** Where the supervisor speaks. */
  log: Logger;
  /** The shared configuration's initial value and the file it came from. @default {{ initial: {} }} */
  config?: { initial: unknown; file?: ConfigFile };
  /** Internal timings. @default {{}} */
  tuning?: SupervisorTuning;
  /** Whether pretty log lines are coloured; workers follow it. @default {false} */
  logColor?: boolean;
}

interface Slot {
  readonly index: number;
  /** The generation the next worker of this slot gets. */
  nextGeneration: number;
  active: WorkerRecord | undefined;
  incoming: WorkerRecord | undefined;
  /** The active worker passed the hard memory limit: its replacement takes over as soon as it listens. */
  urgent: boolean;
  crashes: CrashHistory;
  respawn: TimerHandle | undefined;
}

type Phase =
  | { kind: "idle" }
  | { kind: "starting"; resolve: () => void; reject: (error: unknown) => void }
  | { kind: "running" }
  /**
   * `code`: what the rota exits with once every worker is gone. `delay`: the
   * `--shutdown-delay` timer while workers still serve (readiness already
   * answers 503); the drain starts when it fires.
   */
  | { kind: "stopping"; code: number; forced: boolean; delay: TimerHandle | undefined }
  | { kind: "stopped"; code: number };

/**
 * How to stop: the exit code, whether to kill instead of drain, whether to
 * keep serving for `--shutdown-delay` first (a requested stop of a running
 * rota), and why (for a start that is cut short).
 */
interface Stop {
  readonly code: number;
  readonly force: boolean;
  readonly delay?: boolean;
  readonly error?: RotaError;
}

/**
 * The supervisor of one rota.
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor(host, { options, log });
 * await supervisor.start();
 * await supervisor.close();
 * ```
 */
export class Supervisor {
  #host: SupervisorHost;
  #options: ResolvedOptions;
  #log: Logger;
  #killGrace: number;
  #ownDrainGrace: number;
  #policy: RestartPolicy;
  #config: ConfigStore;
  #slots: Slot[];
  #live = new Set<WorkerRecord>();
  #rollout: Rollout;
  #availability = new AvailabilityClock();
  #phase: Phase = { kind: "idle" };
  #listeningAnnounced = false;
  /** What the workers were last told of their ready peers (a key, to tell only changes). */
  #peersTold = "";
  #replacements = 0;
  #crashes = 0;
  #unwatchConfig: () => void = () => {};
  #watchdog: Watchdog<WorkerRecord>;
  #watchdogKills = 0;
  #memory: MemoryWatch<WorkerRecord>;
  #throttle: WarningThrottle;
  #health: HealthBroadcast;
  #ops: SnapshotSource;
  #reload = new ReloadProgress();
  #lifecycle: Listeners<RotaLifecycle>;
  #logColor: boolean;
  #closed: Promise<number>;
  #resolveClosed!: (code: number) => void;

  /**
   * @param host The runtime, supervisor side.
   * @param init Options, log, configuration and tuning.
   */
  constructor(host: SupervisorHost, init: SupervisorInit) {
    const { options, log, config = { initial: {} }, tuning = {}, logColor = false } = init;
    const {
      killGrace = 3000,
      stableAfter = 30000,
      respawnMin = 100,
      respawnMax = 30000,
      random = Math.random,
      ownDrainGrace = 250,
      wallClock = Date.now,
    } = tuning;
    this.#logColor = logColor;
    this.#host = host;
    this.#options = options;
    this.#log = log;
    this.#killGrace = killGrace;
    this.#ownDrainGrace = ownDrainGrace;
    this.#policy = {
      minDelay: respawnMin,
      maxDelay: respawnMax,
      stableAfter,
      maxRestarts: options.maxRestarts,
      random,
    };
    this.#config = new ConfigStore({
      initial: config.initial,
      file: config.file,
      targets: () => this.#configTargets(),
      clock: host.clock,
      log,
    });
    this.#rollout = new Rollout({
      maxSurge: options.maxSurge,
      clock: host.clock,
      backoff: this.#policy,
      start: (index) => this.#startReplacement(this.#slots[index]),
    });
    this.#slots = Array.from({ length: options.workers }, (_, index) => ({
      index,
      nextGeneration: 0,
      active: undefined,
      incoming: undefined,
      urgent: false,
      crashes: { consecutive: 0 },
      respawn: undefined,
    }));
    this.#watchdog = new Watchdog({
      timeout: options.watchdogTimeout,
      clock: host.clock,
      overdue: (worker, silentMs, last) => this.#onOverdue(worker, silentMs, last),
    });
    this.#memory = new MemoryWatch({
      maxMemory: options.maxMemory,
      clock: host.clock,
      workers: () => this.#slots.flatMap((slot) => (slot.active && isServing(slot.active.state) ? [slot.active] : [])),
      measure: (worker) => host.residentMemory(worker.child.pid) ?? this.#watchdog.last(worker)?.rss,
      over: (worker, level, rss) => this.#onMemory(worker, level, rss),
    });
    this.#throttle = new WarningThrottle({ log, clock: host.clock });
    this.#health = new HealthBroadcast({
      clock: host.clock,
      send: (health) => {
        for (const worker of this.#live) worker.send({ rota: 1, type: "health", ...health });
      },
    });
    this.#ops = new SnapshotSource({
      clock: host.clock,
      wallClock,
      identity: {
        runtime: host.runtime,
        pid: host.pid(),
        version: VERSION,
        app: options.app,
        port: options.port,
        hostname: options.hostname,
      },
    });
    this.#lifecycle = new Listeners((error) => log.error(`a lifecycle listener threw: ${describeError(error)}`));
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /**
   * Hear the rota's lifecycle: started, reloading, reloaded, stopping, stopped.
   *
   * @param listener Called with each event.
   * @returns Its removal.
   */
  onLifecycle(listener: (event: RotaLifecycle) => void): () => void {
    return this.#lifecycle.add(listener);
  }

  /** Whether a rolling reload is under way (from its start until every slot settled). */
  get reloading(): boolean {
    return this.#reload.state.kind === "running";
  }

  /**
   * The rota now, for metrics, `rota status` and the status page.
   *
   * @returns A snapshot: plain data.
   */
  snapshot(): RotaSnapshot {
    const health = this.#currentHealth();
    return this.#ops.snapshot({
      phase: health.phase,
      ready: health.ready,
      configVersion: this.#config.current.version,
      ...this.stats(),
      workers: [...this.#live].map((worker) => {
        const slot = this.#slots[worker.slot];
        return {
          key: worker,
          slot: worker.slot,
          generation: worker.generation,
          pid: worker.child.pid,
          state: worker.state,
          role: slot.active === worker ? "active" : slot.incoming === worker ? "incoming" : "retired",
          startedAt: worker.startedAt,
          readyAt: worker.readyAt,
          heartbeat: this.#watchdog.last(worker),
          rss: this.#host.residentMemory(worker.child.pid),
        };
      }),
    });
  }

  /** The rota's health, as workers answer the health paths with it. */
  #currentHealth(): RotaHealth {
    const phase = this.#phase.kind;
    const stopping = phase === "stopping" || phase === "stopped";
    const workersReady = this.#readyCount();
    return {
      ready: workersReady > 0 && !stopping,
      workersReady,
      phase: stopping ? "stopping" : phase === "running" ? "running" : "starting",
      pid: this.#host.pid(),
    };
  }

  /** Resolves with the exit code once every worker has exited after a stop. */
  get closed(): Promise<number> {
    return this.#closed;
  }

  /**
   * Start every slot and wait until each has a worker that is ready or
   * failing (alive, answering 503, retrying its init).
   *
   * @returns When the rota is up.
   * @throws {RotaError} When a worker cannot serve at all (a bad module, the
   * port in use), or the rota was stopped while starting; every worker is
   * stopped first.
   */
  start(): Promise<void> {
    if (this.#phase.kind !== "idle") {
      return Promise.reject(new RotaError("ERR_ROTA_STARTUP_FAILED", "Cannot start a supervisor twice"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#phase = { kind: "starting", resolve, reject };
      this.#unwatchConfig = this.#config.watch();
      this.#memory.start();
      this.#health.start(this.#currentHealth());
      for (const slot of this.#slots) this.#spawn(slot, "active");
    });
  }

  /** Every live worker. */
  status(): WorkerStatus[] {
    return [...this.#live].map((worker) => {
      const slot = this.#slots[worker.slot];
      return {
        slot: worker.slot,
        generation: worker.generation,
        pid: worker.child.pid,
        state: worker.state.kind,
        role: slot.active === worker ? "active" : slot.incoming === worker ? "incoming" : "retired",
      };
    });
  }

  /** Counters since the start: replacements, crashes, and milliseconds with no worker ready. */
  stats(): SupervisorStats {
    return {
      replacements: this.#replacements,
      crashes: this.#crashes,
      noWorkerReadyMs: this.#availability.total(this.#host.clock.now()),
      watchdogKills: this.#watchdogKills,
    };
  }

  /**
   * Re-read the `--app-config` file (publishing it when it changed), then replace
   * every worker with a fresh process, one slot at a time, each replacement
   * ready before its predecessor drains.
   *
   * @returns When the configuration was refreshed and the replacements queued.
   */
  async reload(): Promise<void> {
    if (this.#phase.kind !== "running") return;
    // Configuration first, so the fresh workers start with it.
    await this.#config.refresh();
    if (this.#phase.kind !== "running") return;
    this.#log.info("rolling reload of every worker", { event: "rota.reload" });
    this.#reload.begin(this.#slots);
    this.#lifecycle.emit({ type: "reloading" });
    for (const slot of this.#slots) {
      if (slot.active && isServing(slot.active.state)) this.#ops.recycle(identity(slot.active), "reload");
      this.#rollout.request(slot.index, "reload");
    }
  }

  /**
   * Stop gracefully: readiness turns 503 at once; a running rota keeps
   * serving for `--shutdown-delay`; then every worker drains (stop accepting,
   * finish in-flight requests, `dispose`) and is killed after the graceful
   * timeout.
   *
   * @returns The exit code: 0, or what an earlier stop decided.
   */
  close(): Promise<number> {
    return this.#stop({ code: 0, force: false, delay: true });
  }

  /**
   * Stop now: SIGKILL every worker, even during a graceful stop.
   *
   * @returns The exit code: 1.
   */
  forceClose(): Promise<number> {
    return this.#stop({ code: 1, force: true });
  }

  /**
   * The one stop path: graceful or forced, from any phase, in stages:
   * readiness turns 503 at once (the health every worker answers with);
   * a requested stop of a running rota keeps serving for `--shutdown-delay`;
   * then every worker drains, or is killed when forced.
   */
  #stop(how: Stop): Promise<number> {
    const phase = this.#phase;
    if (phase.kind === "stopped") return this.#closed;
    if (phase.kind === "stopping") {
      if (how.force && !phase.forced) {
        this.#host.clock.clearTimeout(phase.delay);
        this.#phase = { kind: "stopping", code: how.code, forced: true, delay: undefined };
        this.#log.warn("forced shutdown: killing every worker", { event: "rota.stopping" });
        for (const worker of this.#live) worker.child.kill("SIGKILL");
      }
      return this.#closed;
    }
    if (phase.kind === "starting") {
      phase.reject(how.error ?? new RotaError("ERR_ROTA_STARTUP_FAILED", "Stopped while starting"));
    }
    const delay = how.delay && !how.force && phase.kind === "running" ? this.#options.shutdownDelay : 0;
    this.#phase = { kind: "stopping", code: how.code, forced: how.force, delay: undefined };
    const now = this.#host.clock.now();
    this.#availability.stop(now);
    const { replacements, crashes, noWorkerReadyMs, watchdogKills } = this.stats();
    if (how.force) this.#log.warn("forced shutdown: killing every worker", { event: "rota.stopping" });
    else {
      this.#log.info("shutting down gracefully", {
        event: "rota.stopping",
        replacements,
        crashes,
        noWorkerReadyMs,
        watchdogKills,
        ...(delay > 0 ? { shutdownDelayMs: delay } : {}),
      });
    }
    this.#rollout.stop();
    this.#reload.cancel();
    this.#unwatchConfig();
    this.#memory.stop();
    for (const slot of this.#slots) this.#host.clock.clearTimeout(slot.respawn);
    // Readiness first: load balancers hear 503 while the workers still serve.
    this.#health.update(this.#currentHealth());
    this.#lifecycle.emit({ type: "stopping", delayMs: delay });
    if (delay > 0 && this.#live.size > 0) {
      this.#log.info(
        `serving ${delay}ms more (--shutdown-delay) while readiness answers 503, then draining every worker`,
        { event: "rota.stopping" },
      );
      const delayed = this.#host.clock.setTimeout(() => this.#drainEveryWorker(), delay);
      this.#phase = { kind: "stopping", code: how.code, forced: how.force, delay: delayed };
      return this.#closed;
    }
    this.#drainEveryWorker();
    return this.#closed;
  }

  /** The stop's last stage: every worker drains, or is killed when the stop is forced. */
  #drainEveryWorker(): void {
    const phase = this.#phase;
    if (phase.kind !== "stopping") return;
    if (phase.delay !== undefined) this.#phase = { ...phase, delay: undefined };
    for (const worker of this.#live) {
      if (phase.forced) worker.child.kill("SIGKILL");
      else this.#drain(worker);
    }
    this.#settleIfEmpty();
  }

  #isStopping(): boolean {
    return this.#phase.kind === "stopping" || this.#phase.kind === "stopped";
  }

  #anyReady(): boolean {
    return this.#readyCount() > 0;
  }

  #readyCount(): number {
    let ready = 0;
    for (const worker of this.#live) if (worker.state.kind === "ready") ready++;
    return ready;
  }

  /**
   * How many ready workers count as peers for a worker of `slot`: every ready
   * worker but itself, and for the replacement of an urgent slot not the
   * worker it replaces either (that one must stop taking connections now, so
   * its replacement accepts at once instead of after its init).
   */
  #peersFor(slot: Slot, incoming: boolean, self?: WorkerRecord): number {
    let ready = 0;
    for (const worker of this.#live) {
      if (worker === self || worker.state.kind !== "ready") continue;
      if (incoming && slot.urgent && worker === slot.active) continue;
      ready++;
    }
    return ready;
  }

  /**
   * Tell every worker how many others are ready: one whose init has not
   * succeeded accepts connections only while none is, so that a broken or
   * still-initialising worker never takes traffic from a ready one.
   */
  #tellPeers(): void {
    // While stopping, every worker drains: none should start accepting now.
    if (this.#isStopping()) return;
    const told = `${this.#readyCount()} ${this.#slots.map((slot) => slot.urgent).join()}`;
    if (told === this.#peersTold) return;
    this.#peersTold = told;
    for (const worker of this.#live) {
      if (!isServing(worker.state)) continue;
      const slot = this.#slots[worker.slot];
      worker.send({ rota: 1, type: "peers", ready: this.#peersFor(slot, slot.incoming === worker, worker) });
    }
  }

  /** Start a worker for `slot`; false when the runtime refused (handled as a failure). */
  #spawn(slot: Slot, role: "active" | "incoming"): boolean {
    if (this.#isStopping()) return false;
    const generation = slot.nextGeneration;
    const spec = buildWorkerSpec(
      this.#options,
      { slot: slot.index, generation },
      this.#config.current,
      this.#peersFor(slot, role === "incoming"),
      { health: this.#health.current ?? this.#currentHealth(), logColor: this.#logColor },
    );
    // The runtime may report messages or the exit before `spawn` returns: hold them until the record exists.
    const known: { worker?: WorkerRecord; early: Array<() => void> } = { early: [] };
    const whenKnown = (fn: (worker: WorkerRecord) => void) => {
      const { worker } = known;
      if (worker) fn(worker);
      else known.early.push(() => fn(known.worker!));
    };
    let child: WorkerProcess;
    try {
      child = this.#host.spawn({
        spec,
        onMessage: (raw) => whenKnown((worker) => this.#onMessage(worker, raw)),
        onExit: (exit) => whenKnown((worker) => this.#onExit(worker, exit)),
      });
    } catch (error) {
      this.#cannotSpawn(slot, role, error);
      return false;
    }
    slot.nextGeneration++;
    const worker = new WorkerRecord({
      slot: slot.index,
      generation,
      child,
      clock: this.#host.clock,
      configVersion: this.#config.current.version,
    });
    known.worker = worker;
    slot[role] = worker;
    this.#live.add(worker);
    worker.setTimer(this.#options.startupTimeout, () => this.#onStartupTimeout(worker));
    this.#ops.event(identity(worker), "spawned", role === "incoming" ? "replacement" : undefined);
    this.#log.info(`started worker ${slot.index}.${generation}`, { event: "worker.spawned", pid: child.pid, role });
    known.early.forEach((replay) => replay());
    return true;
  }

  #startReplacement(slot: Slot): boolean {
    if (this.#phase.kind !== "running" || slot.incoming || slot.respawn !== undefined) return false;
    if (!slot.active) {
      // Nothing left to replace: the slot is filled instead, and this request is done.
      this.#fill(slot);
      return false;
    }
    return this.#spawn(slot, "incoming");
  }

  /**
   * Give a slot that has no worker, no replacement and no respawn waiting a
   * worker now: no path may leave a slot empty (with one worker, an empty slot
   * would end the rota with nothing to wait for).
   */
  #fill(slot: Slot): void {
    if (this.#phase.kind !== "running" && this.#phase.kind !== "starting") return;
    if (slot.active || slot.incoming || slot.respawn !== undefined) return;
    this.#rollout.cancel(slot.index);
    this.#spawn(slot, "active");
  }

  /** Starting a process failed (the runtime refused): like a crash, retried with back-off. */
  #cannotSpawn(slot: Slot, role: "active" | "incoming", error: unknown): void {
    const message = `Cannot start a worker process: ${describeError(error)}`;
    this.#log.error(message);
    if (this.#phase.kind === "starting") {
      void this.#stop({ code: 0, force: false, error: new RotaError("ERR_ROTA_STARTUP_FAILED", message) });
      return;
    }
    // A refused replacement is reported by the rollout, which started it.
    if (role === "incoming") {
      const generation = slot.nextGeneration;
      queueMicrotask(() => this.#replacementFailed(slot, generation));
      return;
    }
    this.#respawnAfterCrash(slot, undefined);
  }

  /** Apply an event to a worker and react to what changed. */
  #apply(worker: WorkerRecord, event: WorkerEvent): ReturnType<WorkerRecord["apply"]> {
    const change = worker.apply(event);
    if (!change) return undefined;
    const now = this.#host.clock.now();
    this.#availability.update(this.#anyReady(), now, this.#phase.kind === "running");
    this.#tellPeers();
    this.#health.update(this.#currentHealth());
    this.#recordChange(worker, change.from, change.to);
    if (change.firstReady) this.#onFirstReady(worker);
    const slot = this.#slots[worker.slot];
    if (slot.incoming === worker && (change.to.kind === "ready" || (slot.urgent && isListening(change.to)))) {
      this.#promote(slot);
    }
    const serving = slot.active;
    if (serving && (serving.state.kind === "ready" || serving.state.kind === "failing")) {
      this.#settleReload(slot.index, serving.generation, "serving");
    }
    this.#checkStarted();
    return change;
  }

  /** The timeline's events, from the one place states change. */
  #recordChange(worker: WorkerRecord, from: WorkerState, to: WorkerState): void {
    const who = identity(worker);
    if (to.kind === "ready" && from.kind !== "ready") {
      this.#ops.event(who, "ready");
      if (this.#slots[worker.slot].incoming !== worker) {
        this.#log.info(`${worker.name} is ready`, { event: "worker.ready" });
      }
    } else if (to.kind === "draining") this.#ops.event(who, "draining");
    else if (to.kind === "exited") {
      const { ended } = to;
      const how = ended.exit.signal ? `signal ${ended.exit.signal}` : `code ${ended.exit.code}`;
      const kind = ended.kind === "retired" ? "exited" : ended.kind === "killed" ? "killed" : "crashed";
      this.#ops.event(who, kind, ended.kind === "crashed" && ended.fatal ? ended.fatal.code : how);
    }
  }

  /** A slot's new worker serves, or its replacement failed: the reload may be over. */
  #settleReload(slot: number, generation: number, outcome: "serving" | "failed"): void {
    const failed = this.#reload.settle(slot, generation, outcome);
    if (!failed) return;
    const message = failed.length === 0
      ? "rolling reload done: every worker runs fresh code"
      : `rolling reload done; the replacement failed for slot${failed.length === 1 ? "" : "s"} ${
        failed.join(", ")
      }, whose old worker keeps serving`;
    if (failed.length === 0) this.#log.info(message, { event: "rota.reloaded" });
    else this.#log.warn(message, { event: "rota.reloaded" });
    this.#lifecycle.emit({ type: "reloaded", failed });
  }

  #onFirstReady(worker: WorkerRecord): void {
    const { maxLifetime, workers } = this.#options;
    if (maxLifetime <= 0) return;
    const lifetime = stagger(maxLifetime, maxLifetime / 10, worker.slot, workers);
    worker.setTimer(lifetime, () => this.#recycle(worker, "max-lifetime", `lived ${lifetime}ms (max lifetime)`));
  }

  #onMessage(worker: WorkerRecord, raw: unknown): void {
    const parsed = parseWorkerMessage(raw);
    if (!parsed.ok) {
      this.#throttle.warn(worker.name, `ignored a malformed message from ${worker.name}: ${parsed.reason}`);
      return;
    }
    this.#handle(worker, parsed.message);
  }

  #handle(worker: WorkerRecord, message: WorkerMessage): void {
    switch (message.type) {
      case "hello":
        return worker.greeted();
      case "hold":
        return worker.hold();
      case "loaded":
        this.#apply(worker, { type: "loaded" });
        return;
      case "paused":
        worker.greeted();
        this.#apply(worker, { type: "paused" });
        return;
      case "draining":
        return this.#drainingOnItsOwn(worker, message.reason);
      case "listening":
        if (!this.#listeningAnnounced) {
          this.#listeningAnnounced = true;
          this.#log.info(`listening on http://${this.#options.hostname}:${this.#options.port}`, {
            event: "rota.listening",
          });
        }
        worker.greeted();
        // A version published while the worker was loading may have found no listener yet.
        if (worker.configVersion < this.#config.current.version) this.#sendConfig(worker);
        this.#apply(worker, { type: "listening" });
        return;
      case "init-ok":
        this.#ops.initAttempt(worker, true, message.ms);
        this.#apply(worker, { type: "init-ok" });
        return;
      case "init-failed": {
        this.#ops.initAttempt(worker, false, message.ms);
        this.#ops.event(identity(worker), "init-failed", message.code);
        const change = this.#apply(worker, { type: "init-failed" });
        if (change?.to.kind === "failing" && change.from.kind !== "failing") {
          this.#log.warn(
            `${worker.name} is failing: init attempt ${message.attempt} failed (${message.code}); it stays up and retries`,
            { event: "worker.failing" },
          );
        }
        return;
      }
      case "init-hung":
        this.#log.error(`${worker.name}: init attempt ${message.attempt} ignores its abort signal`, {
          event: "init.hung",
        });
        if (this.#slots[worker.slot].incoming === worker) worker.child.kill("SIGKILL");
        else this.#recycle(worker, "init-hung", `init attempt ${message.attempt} ignores its abort signal`);
        return;
      case "fatal":
        this.#apply(worker, { type: "fatal", fatal: { code: message.code, message: message.message } });
        return;
      case "recycle":
        return this.#recycle(worker, message.reason === "max-memory" ? "max-memory" : "max-requests", message.detail);
      case "publish":
        return this.#publish(worker, message.id, message.value, message.ifVersion);
      case "config-ack":
        worker.configVersion = Math.max(worker.configVersion, message.version);
        this.#config.acknowledge(worker, message.version, message.ok, message.message);
        return;
      case "heartbeat":
        this.#ops.requests(message.requestSeconds);
        return this.#watchdog.beat(worker, message);
    }
  }

  #configTargets(): ConfigTarget[] {
    return [...this.#live].map((worker) => ({
      key: worker,
      slot: worker.slot,
      generation: worker.generation,
      pid: worker.child.pid,
      send: (message) => worker.send(message),
    }));
  }

  #sendConfig(worker: WorkerRecord): void {
    const { version, value } = this.#config.current;
    worker.send({ rota: 1, type: "config", version, value });
  }

  #publish(worker: WorkerRecord, id: number, value: unknown, ifVersion: number | undefined): void {
    this.#config.publish(value, ifVersion).then(
      ({ version, failed }) => {
        this.#ops.event(identity(worker), "config", `v${version}`);
        this.#log.info(`configuration version ${version} published by ${worker.name}`, { event: "config.published" });
        worker.send({ rota: 1, type: "publish-result", id, ok: true, version, failed: [...failed] });
      },
      (error) => {
        const code = error instanceof RotaError ? error.code : "ERR_ROTA_CONFIG";
        if (code !== "ERR_ROTA_CONFIG_CONFLICT") {
          const { version } = this.#config.current;
          this.#log.error(
            `${describeError(error)}; the publish by ${worker.name} was refused, version stays ${version}`,
            { event: "config.rejected" },
          );
        }
        worker.send({ rota: 1, type: "publish-result", id, ok: false, code, message: describeError(error) });
      },
    );
  }

  /** Replace a slot's active worker, replacement first, and count why. */
  #recycle(worker: WorkerRecord, reason: RecycleReason, why: string): void {
    if (this.#slots[worker.slot].active !== worker || !isServing(worker.state)) return;
    this.#log.info(`recycling ${worker.name}: ${why}`, { event: "recycle", reason });
    this.#ops.recycle(identity(worker), reason);
    this.#rollout.request(worker.slot);
  }

  /**
   * The rota has started once every slot has a worker whose first init
   * settled (ready or failing) and the port accepts connections, so that a
   * client connecting as `start()` resolves is never refused.
   */
  #checkStarted(): void {
    const phase = this.#phase;
    if (phase.kind !== "starting") return;
    const settled = this.#slots.every((s) => s.active?.state.kind === "ready" || s.active?.state.kind === "failing");
    if (!settled || ![...this.#live].some((worker) => isListening(worker.state))) return;
    this.#phase = { kind: "running" };
    const ready = this.#slots.filter((s) => s.active?.state.kind === "ready").length;
    // Workers hear the new phase before the log announces it.
    this.#health.update(this.#currentHealth());
    this.#log.info(`${ready} of ${this.#slots.length} workers ready`, { event: "rota.started" });
    phase.resolve();
    this.#lifecycle.emit({ type: "started", ready, workers: this.#slots.length });
  }

  /**
   * `--startup-timeout` bounds how long a worker may take to be up (its app
   * imported and its first init attempt started); a replacement must be
   * *ready* within it, since an old worker keeps serving its slot meanwhile.
   * A worker that is up is never killed for a slow or failing init: it
   * retries in place, answering 503 while no worker is ready.
   */
  #onStartupTimeout(worker: WorkerRecord): void {
    const incoming = this.#slots[worker.slot].incoming === worker;
    const late = incoming ? worker.state.kind !== "ready" : worker.state.kind === "loading";
    if (!late || !isServing(worker.state)) return;
    const what = incoming ? "ready" : "up (its app imported)";
    if (incoming && isListening(worker.state)) {
      // It took connections (no worker was ready): drained, not killed, so that what it accepted is answered.
      this.#log.error(`${worker.name} was not ${what} within ${this.#options.startupTimeout}ms; draining it`, {
        event: "worker.draining",
      });
      return this.#drain(worker);
    }
    if (!this.#apply(worker, { type: "kill", reason: "startup-timeout" })) return;
    this.#log.error(`${worker.name} was not ${what} within ${this.#options.startupTimeout}ms; killing it`, {
      event: "worker.killed",
      reason: "startup-timeout",
    });
    // A kill, not a crash: not counted in crashes; its slot is seen to as for a crash.
    this.#seeToSlotOfKilled(worker, 0);
    worker.child.kill("SIGKILL");
  }

  /** A worker drains because it was told so by someone else (a signal to it, a lost supervisor). */
  #drainingOnItsOwn(worker: WorkerRecord, reason: string): void {
    const change = this.#apply(worker, { type: "drain" });
    if (!change) return;
    this.#log.warn(`${worker.name} is draining on its own (${reason})`, { event: "worker.draining" });
    this.#killAfterGrace(worker);
    // Replace it as a recycle (not a crash: no back-off), after a moment: a signal sent to the whole
    // process group (Ctrl-C in a terminal) reaches the supervisor too, which then stops everything instead.
    // Counted now: it may exit before the replacement starts, and its slot is then filled without a request.
    if (this.#phase.kind === "running" && this.#slots[worker.slot].active === worker) {
      this.#ops.recycle(identity(worker), "drained");
    }
    this.#host.clock.setTimeout(() => {
      if (this.#phase.kind === "running" && this.#slots[worker.slot].active === worker) {
        this.#rollout.request(worker.slot);
      }
    }, this.#ownDrainGrace);
  }

  #onExit(worker: WorkerRecord, exit: ProcessExit): void {
    const slot = this.#slots[worker.slot];
    const wasIncoming = slot.incoming === worker;
    const wasActive = slot.active === worker;
    this.#apply(worker, { type: "exit", exit });
    const { state } = worker;
    if (state.kind !== "exited") return;
    this.#live.delete(worker);
    this.#config.forget(worker);
    this.#watchdog.forget(worker);
    if (wasActive) slot.active = undefined;
    if (wasIncoming) slot.incoming = undefined;
    const { ended } = state;
    if (ended.kind === "crashed") this.#crashes++;
    this.#report(worker, ended);

    if (this.#isStopping()) return this.#settleIfEmpty();
    // A killed worker's slot was seen to when it was killed.
    if (ended.kind === "killed") return;
    if (ended.kind === "retired") {
      // A replacement that left before it was ready (it drained on its own, or was drained at its deadline): try again.
      if (wasIncoming) return this.#replacementFailed(slot, worker.generation);
      // The slot's own worker left (it drained on its own) before a replacement took over: the replacement becomes
      // the slot's worker now, ready or not, or a new one starts at once.
      if (wasActive && this.#adoptable(slot)) return this.#adoptIncoming(slot);
      return this.#fill(slot);
    }
    if (this.#phase.kind === "starting" && ended.fatal) {
      const error = new RotaError(ended.fatal.code as RotaErrorCode, ended.fatal.message);
      return void this.#stop({ code: 0, force: false, error });
    }
    if (wasIncoming) return this.#replacementFailed(slot, worker.generation);
    if (wasActive) {
      if (this.#adoptable(slot)) return this.#adoptIncoming(slot);
      this.#respawnAfterCrash(slot, worker.readyAt);
    }
  }

  #report(worker: WorkerRecord, ended: WorkerExit): void {
    const how = ended.exit.signal ? `signal ${ended.exit.signal}` : `code ${ended.exit.code}`;
    const fields: LogFields = { event: "worker.exit", exit: ended.kind };
    if ((ended.kind === "retired" && (ended.exit.code ?? 1) !== 0) || ended.kind === "killed") {
      // Killed by rota (the watchdog, the kill timer: said before), or by someone else while it drained (an OOM kill).
      this.#log.warn(`${worker.name} exited (${how})`, fields);
    } else if (ended.kind === "retired") {
      this.#log.info(`${worker.name} exited (${how})`, fields);
    } else if (ended.fatal) {
      this.#log.error(`${worker.name} cannot serve: ${ended.fatal.message}`, { ...fields, code: ended.fatal.code });
    } else {
      this.#log.error(`${worker.name} exited unexpectedly (${how})`, fields);
    }
  }

  /** A replacement failed (crashed, killed, or refused): the active worker keeps serving; try again later. */
  #replacementFailed(slot: Slot, generation: number): void {
    const { failures, wait } = this.#rollout.failed(slot.index);
    if (failures > 1) {
      this.#log.warn(`slot ${slot.index}: retrying in ${wait}ms after ${failures} failures`, {
        event: "worker.retry",
      });
    }
    this.#settleReload(slot.index, generation, "failed");
  }

  /**
   * The slot's active worker crashed (or could not be started, or was killed
   * by the watchdog): respawn after a back-off, or give up. `waited` is time
   * already spent waiting on this worker (a watchdog's timeout), taken off
   * the back-off: a wedge is a kill, not a crash loop, and it already cost
   * the slot that long.
   */
  #respawnAfterCrash(slot: Slot, readyAt: number | undefined, waited = 0): void {
    const now = this.#host.clock.now();
    const decision = decideRestart(slot.crashes, { readyAt }, now, this.#policy);
    slot.crashes = decision.history;
    if (decision.kind === "give-up") {
      const why = `slot ${slot.index} ${decision.reason}: giving up`;
      this.#log.error(`${why}, exit code 1, for the service manager to restart rota`, { event: "rota.gave-up" });
      void this.#stop({ code: 1, force: false, error: new RotaError("ERR_ROTA_STARTUP_FAILED", why) });
      return;
    }
    const { consecutive } = decision.history;
    const after = Math.max(0, Math.round(decision.after - waited));
    this.#ops.restart(slot.index);
    if (consecutive > 1 && after > 0) {
      this.#log.warn(`slot ${slot.index}: retrying in ${after}ms after ${consecutive} failures`, {
        event: "worker.retry",
      });
    }
    this.#rollout.cancel(slot.index);
    this.#host.clock.clearTimeout(slot.respawn);
    slot.respawn = undefined;
    if (after === 0) {
      this.#spawn(slot, "active");
      return;
    }
    slot.respawn = this.#host.clock.setTimeout(() => {
      slot.respawn = undefined;
      if (this.#phase.kind === "running" || this.#phase.kind === "starting") this.#spawn(slot, "active");
    }, after);
  }

  /** A worker's heartbeats stopped: kill it, count it, and see to its slot at once. */
  #onOverdue(worker: WorkerRecord, silentMs: number, last: HeartbeatMessage): void {
    if (!this.#live.has(worker) || !this.#apply(worker, { type: "kill", reason: "watchdog" })) return;
    this.#watchdogKills++;
    this.#log.error(
      `watchdog: ${worker.name} sent no heartbeat for ${silentMs}ms; killing it (it was ${
        describeActivity(last, silentMs)
      })`,
      { event: "worker.killed", reason: "watchdog" },
    );
    this.#seeToSlotOfKilled(worker, silentMs);
    worker.child.kill("SIGKILL");
  }

  /**
   * A worker is about to be killed: see to its slot first (its exit may be
   * reported while `kill` runs, and a killed worker's exit leaves the slot
   * alone). A replacement failed; an active worker is followed by its
   * replacement or respawned after a back-off, less the `waited` it already cost.
   */
  #seeToSlotOfKilled(worker: WorkerRecord, waited: number): void {
    const slot = this.#slots[worker.slot];
    if (slot.incoming === worker) {
      slot.incoming = undefined;
      this.#replacementFailed(slot, worker.generation);
    } else if (slot.active === worker) {
      slot.active = undefined;
      if (this.#adoptable(slot)) this.#adoptIncoming(slot);
      else if (!this.#isStopping()) this.#respawnAfterCrash(slot, worker.readyAt, waited);
    }
  }

  /**
   * A worker passed a memory limit. Soft: recycle it, replacement first.
   * Hard: it must stop taking connections now. When another worker is ready
   * it drains at once and a new worker starts; when it is the only one
   * serving (its closing would close the shared socket, refusing
   * connections), a replacement starts listening at once, before its init
   * finished, and takes over as soon as it listens.
   */
  #onMemory(worker: WorkerRecord, level: "soft" | "hard", rss: number): void {
    const slot = this.#slots[worker.slot];
    if (slot.active !== worker || !isServing(worker.state) || this.#phase.kind !== "running") return;
    const uses = `${worker.name} uses ${mebibytes(rss)}MB`;
    if (level === "soft") {
      this.#log.warn(`${uses}, above --max-memory ${mebibytes(this.#options.maxMemory)}MB: recycling`, {
        event: "recycle",
        reason: "max-memory",
      });
      this.#ops.recycle(identity(worker), "max-memory");
      this.#rollout.request(slot.index);
      return;
    }
    this.#log.warn(
      `${uses}, above the hard limit of ${mebibytes(hardMemoryLimit(this.#options.maxMemory))}MB: replacing it now`,
      { event: "recycle", reason: "hard-memory-limit" },
    );
    this.#ops.recycle(identity(worker), "hard-memory-limit");
    const othersServe = [...this.#live].some((other) => other !== worker && other.state.kind === "ready");
    if (othersServe) {
      slot.active = undefined;
      this.#drain(worker);
      if (this.#adoptable(slot)) return this.#adoptIncoming(slot);
      this.#rollout.cancel(slot.index);
      this.#spawn(slot, "active");
      return;
    }
    slot.urgent = true;
    if (slot.incoming && isListening(slot.incoming.state)) return this.#promote(slot);
    if (slot.incoming) return this.#tellPeers();
    this.#rollout.cancel(slot.index);
    this.#spawn(slot, "incoming");
  }

  /**
   * Whether the slot's replacement may become its worker. One that drains
   * (it was not ready in time, or was told to stop) may not: it is let go as a
   * failed replacement, and the slot goes on as if it had none.
   */
  #adoptable(slot: Slot): boolean {
    const incoming = slot.incoming;
    if (!incoming) return false;
    if (incoming.state.kind !== "draining") return true;
    slot.incoming = undefined;
    this.#replacementFailed(slot, incoming.generation);
    return false;
  }

  /** The active worker died while its replacement starts: the replacement becomes the slot's worker now, ready or not. */
  #adoptIncoming(slot: Slot): void {
    slot.active = slot.incoming;
    slot.incoming = undefined;
    slot.urgent = false;
    this.#rollout.adopted(slot.index);
  }

  #promote(slot: Slot): void {
    const incoming = slot.incoming;
    if (!incoming) return;
    const outgoing = slot.active;
    slot.active = incoming;
    slot.incoming = undefined;
    slot.urgent = false;
    this.#replacements++;
    this.#log.info(`${incoming.name} is ready and replaces ${outgoing ? outgoing.name : "nobody"}`, {
      event: "worker.replaced",
    });
    if (outgoing) this.#drain(outgoing);
    this.#rollout.promoted(slot.index);
  }

  #drain(worker: WorkerRecord): void {
    const before = worker.state;
    this.#apply(worker, { type: "drain" });
    if (worker.state === before) return;
    worker.send({ rota: 1, type: "drain" });
    this.#killAfterGrace(worker);
  }

  #killAfterGrace(worker: WorkerRecord): void {
    worker.setTimer(this.#options.gracefulTimeout + this.#killGrace, () => {
      this.#log.warn(`${worker.name} did not exit after draining; killing it`, { event: "worker.killed" });
      worker.child.kill("SIGKILL");
    });
  }

  #settleIfEmpty(): void {
    const phase = this.#phase;
    if (phase.kind !== "stopping" || this.#live.size > 0) return;
    this.#host.clock.clearTimeout(phase.delay);
    this.#watchdog.stop();
    this.#health.stop();
    this.#throttle.flush();
    this.#phase = { kind: "stopped", code: phase.code };
    this.#log.info(`stopped, exit code ${phase.code}`, { event: "rota.stopped" });
    this.#lifecycle.emit({ type: "stopped", code: phase.code });
    this.#resolveClosed(phase.code);
  }
}

function identity(worker: WorkerRecord): { slot: number; generation: number; pid: number } {
  return { slot: worker.slot, generation: worker.generation, pid: worker.child.pid };
}

function mebibytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
