/**
 * The supervisor, or arbiter: it keeps `workers` slots filled. It spawns
 * workers, hears what they say, reaps them, and decides what follows; the
 * decisions themselves live beside it, one concept a file:
 *
 * - `worker_record.ts`: one worker and its one transition function;
 * - `worker_messages.ts`: what a worker says, and how the supervisor answers;
 * - `worker_exit.ts`: a worker's end: the exits it reaps and the kills it decides;
 * - `succession.ts`: who serves a slot next (promotion, adoption, respawn after a crash);
 * - `peers.ts`: how many ready peers each worker is told of (one not yet ready accepts only while none is);
 * - `recycling.ts`: why a serving worker is replaced (lifetime, memory, its own request, draining on its own);
 * - `phase.ts`: the rota's phase, from idle to stopped;
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
 * What stays here is the supervisor's own: its public operations, the moves
 * of its phase (start, the one stop path in stages, started, stopped), all
 * made by `#move` through the transition function of `phase.ts`, spawning a
 * worker, and `#apply`, the one place a worker's event is applied
 * and its consequences (availability, peers, health, timeline, promotion,
 * reload, start) follow. The modules that act for it reach it through one
 * object of its verbs; each declares, as an interface, the few it uses.
 *
 * Each slot holds an `active` worker and, while it is being replaced, an
 * `incoming` one. The incoming worker must become ready before the active one
 * is told to drain, so a slot never stops serving because of a replacement;
 * an incoming worker that does not get ready within `startupTimeout` is killed
 * and the active one keeps serving.
 *
 * @module
 */

import { describeError, RotaError } from "../errors.ts";
import type { SupervisorHost, WorkerProcess } from "../host.ts";
import type { Logger } from "../log.ts";
import type { RotaSnapshot } from "../ops/snapshot.ts";
import type { ResolvedOptions } from "../options.ts";
import type { RotaHealth } from "../protocol.ts";
import { VERSION } from "../version.ts";
import { AvailabilityClock } from "./availability.ts";
import { Listeners, type RotaLifecycle } from "./events.ts";
import { HealthBroadcast } from "./health_broadcast.ts";
import { ReloadProgress } from "./reload_progress.ts";
import { SnapshotSource } from "./snapshot_source.ts";
import type { ConfigFile } from "./config_file.ts";
import { ConfigStore, type ConfigTarget } from "./config_store.ts";
import type { RestartPolicy } from "./restart_policy.ts";
import { Rollout } from "./rollout.ts";
import { MemoryWatch } from "./memory_watch.ts";
import { Watchdog } from "./watchdog.ts";
import { buildWorkerSpec } from "./worker_spec.ts";
import { isStopping, nextPhase, type Phase, type PhaseEvent, type Stop } from "./phase.ts";
import { Peers } from "./peers.ts";
import { Recycling, type RecyclingSupervisor } from "./recycling.ts";
import { type Slot, Succession, type SuccessionSupervisor } from "./succession.ts";
import { type ExitSupervisor, WorkerExits } from "./worker_exit.ts";
import { type MessageSupervisor, WorkerMessages } from "./worker_messages.ts";
import {
  identity,
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
  #config: ConfigStore;
  #slots: Slot[];
  #live = new Set<WorkerRecord>();
  #rollout: Rollout;
  #succession: Succession;
  #recycling: Recycling;
  #exits: WorkerExits;
  #messages: WorkerMessages;
  #peers: Peers;
  #availability = new AvailabilityClock();
  #phase: Phase = { kind: "idle" };
  #unwatchConfig: () => void = () => {};
  #watchdog: Watchdog<WorkerRecord>;
  #memory: MemoryWatch<WorkerRecord>;
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
    const policy: RestartPolicy = {
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
      backoff: policy,
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
      overdue: (worker, silentMs, last) => this.#exits.overdue(worker, silentMs, last),
    });
    this.#memory = new MemoryWatch({
      maxMemory: options.maxMemory,
      clock: host.clock,
      workers: () => this.#slots.flatMap((slot) => (slot.active && isServing(slot.active.state) ? [slot.active] : [])),
      measure: (worker) => host.residentMemory(worker.child.pid) ?? this.#watchdog.last(worker)?.rss,
      over: (worker, level, rss) => this.#recycling.overMemory(worker, level, rss),
    });
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
    this.#peers = new Peers({ slots: this.#slots, live: this.#live });
    // The supervisor's verbs, for the modules that act for it; each module's interface names the few it uses.
    const supervisor: SuccessionSupervisor & ExitSupervisor & RecyclingSupervisor & MessageSupervisor = {
      phase: () => this.#phase.kind,
      apply: (worker, event) => this.#apply(worker, event),
      spawn: (slot, role) => this.#spawn(slot, role),
      drain: (worker) => this.#drain(worker),
      killAfterGrace: (worker) => this.#killAfterGrace(worker),
      release: (worker) => this.#release(worker),
      stop: (how) => this.#stop(how),
      settleIfEmpty: () => this.#settleIfEmpty(),
      settleReload: (slot, generation, outcome) => this.#settleReload(slot, generation, outcome),
      tellPeers: () => this.#tellPeers(),
      isReplacement: (worker) => this.#slots[worker.slot].incoming === worker,
    };
    const { clock } = host;
    const [slots, live, ops, rollout] = [this.#slots, this.#live, this.#ops, this.#rollout];
    const succession = (this.#succession = new Succession({ log, clock, policy, rollout, ops, supervisor }));
    this.#exits = new WorkerExits({ log, startupTimeout: options.startupTimeout, slots, live, succession, supervisor });
    const recycling = (this.#recycling = new Recycling({
      log,
      limits: options,
      ownDrainGrace,
      slots,
      live,
      ops,
      rollout,
      succession,
      supervisor,
    }));
    this.#messages = new WorkerMessages({
      log,
      clock,
      address: { hostname: options.hostname, port: options.port },
      config: this.#config,
      ops,
      watchdog: this.#watchdog,
      recycling,
      exits: this.#exits,
      supervisor,
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
    const stopping = isStopping(phase);
    const workersReady = this.#peers.ready();
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
      this.#move({ type: "start", resolve, reject });
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
      replacements: this.#succession.replacements,
      crashes: this.#exits.crashes,
      noWorkerReadyMs: this.#availability.total(this.#host.clock.now()),
      watchdogKills: this.#exits.watchdogKills,
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
    const from = this.#phase.kind;
    if (!this.#move({ type: "stop-asked", code: how.code, force: how.force, error: how.error })) return this.#closed;
    if (from === "stopping") {
      // A forced stop overtook a graceful one.
      this.#log.warn("forced shutdown: killing every worker", { event: "rota.stopping" });
      for (const worker of this.#live) this.#killForStop(worker);
      return this.#closed;
    }
    const delay = how.delay && !how.force && from === "running" ? this.#options.shutdownDelay : 0;
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
    // A lifecycle listener may have forced the stop meanwhile: that stop killed every worker already.
    if (!how.force && this.#forced()) return this.#closed;
    if (delay > 0 && this.#live.size > 0) {
      const delayed = this.#host.clock.setTimeout(() => this.#drainEveryWorker(), delay);
      this.#move({ type: "delay-started", timer: delayed });
      this.#log.info(
        `serving ${delay}ms more (--shutdown-delay) while readiness answers 503, then draining every worker`,
        { event: "rota.stopping" },
      );
      return this.#closed;
    }
    this.#drainEveryWorker();
    return this.#closed;
  }

  /** The stop's last stage: every worker drains, or is killed when the stop is forced. */
  #drainEveryWorker(): void {
    const phase = this.#phase;
    if (phase.kind !== "stopping") return;
    this.#move({ type: "delay-over" });
    for (const worker of this.#live) {
      if (phase.forced) this.#killForStop(worker);
      else this.#drain(worker);
    }
    this.#settleIfEmpty();
  }

  /**
   * A forced stop kills a worker: its exit is a kill by rota, not a crash. One
   * that said it cannot serve keeps that state, so that its reason is logged.
   */
  #killForStop(worker: WorkerRecord): void {
    if (worker.state.kind !== "fatal") this.#apply(worker, { type: "kill", reason: "forced-stop" });
    worker.child.kill("SIGKILL");
  }

  /**
   * Move the phase: the only place it changes, through the transition
   * function, with what belongs to a change of phase. Leaving `starting`
   * settles the start's promise; a `--shutdown-delay` timer the phase no
   * longer holds is cleared (a forced stop or the end cancel it; once it
   * fired, clearing it does nothing).
   *
   * @returns The phase before and after; `undefined` when the event changed nothing.
   */
  #move(event: PhaseEvent): { from: Phase; to: Phase } | undefined {
    const from = this.#phase;
    const to = nextPhase(from, event);
    if (to === from) return undefined;
    this.#phase = to;
    if (from.kind === "stopping" && from.delay !== undefined && (to.kind !== "stopping" || to.delay !== from.delay)) {
      this.#host.clock.clearTimeout(from.delay);
    }
    if (from.kind === "starting") {
      if (to.kind === "running") from.resolve();
      else {
        const why = event.type === "stop-asked" ? event.error : undefined;
        from.reject(why ?? new RotaError("ERR_ROTA_STARTUP_FAILED", "Stopped while starting"));
      }
    }
    return { from, to };
  }

  /** Whether the stop under way kills rather than drains. */
  #forced(): boolean {
    const phase = this.#phase;
    return phase.kind === "stopping" && phase.forced;
  }

  #isStopping(): boolean {
    return isStopping(this.#phase.kind);
  }

  #anyReady(): boolean {
    return this.#peers.ready() > 0;
  }

  /**
   * Tell every worker how many others are ready: one whose init has not
   * succeeded accepts connections only while none is, so that a broken or
   * still-initialising worker never takes traffic from a ready one.
   */
  #tellPeers(): void {
    // While stopping, every worker drains: none should start accepting now.
    if (this.#isStopping()) return;
    this.#peers.tell();
  }

  /** Start a worker for `slot`; false when the runtime refused (handled as a failure). */
  #spawn(slot: Slot, role: "active" | "incoming"): boolean {
    if (this.#isStopping()) return false;
    const generation = slot.nextGeneration;
    const spec = buildWorkerSpec(
      this.#options,
      { slot: slot.index, generation },
      this.#config.current,
      this.#peers.countFor(slot, role === "incoming"),
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
        onMessage: (raw) => whenKnown((worker) => this.#messages.receive(worker, raw)),
        onExit: (exit) => whenKnown((worker) => this.#exits.exited(worker, exit)),
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
    worker.setTimer(this.#options.startupTimeout, () => this.#exits.startupTimedOut(worker));
    this.#ops.event(identity(worker), "spawned", role === "incoming" ? "replacement" : undefined);
    this.#log.info(`started worker ${slot.index}.${generation}`, { event: "worker.spawned", pid: child.pid, role });
    known.early.forEach((replay) => replay());
    return true;
  }

  #startReplacement(slot: Slot): boolean {
    if (this.#phase.kind !== "running" || slot.incoming || slot.respawn !== undefined) return false;
    if (!slot.active) {
      // Nothing left to replace: the slot is filled instead, and this request is done.
      this.#succession.fill(slot);
      return false;
    }
    return this.#spawn(slot, "incoming");
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
      queueMicrotask(() => this.#succession.replacementFailed(slot, generation));
      return;
    }
    this.#succession.respawnAfterCrash(slot, undefined);
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
    if (change.firstReady) this.#recycling.firstReady(worker);
    const slot = this.#slots[worker.slot];
    if (slot.incoming === worker && (change.to.kind === "ready" || (slot.urgent && isListening(change.to)))) {
      this.#succession.promote(slot);
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

  #configTargets(): ConfigTarget[] {
    return [...this.#live].map((worker) => ({
      key: worker,
      slot: worker.slot,
      generation: worker.generation,
      pid: worker.child.pid,
      send: (message) => worker.send(message),
    }));
  }

  /**
   * The rota has started once every slot has a worker whose first init
   * settled (ready or failing) and the port accepts connections, so that a
   * client connecting as `start()` resolves is never refused.
   */
  #checkStarted(): void {
    if (this.#phase.kind !== "starting") return;
    const settled = this.#slots.every((s) => s.active?.state.kind === "ready" || s.active?.state.kind === "failing");
    if (!settled || ![...this.#live].some((worker) => isListening(worker.state))) return;
    // Resolves start(); whoever awaits it runs only after this method returned.
    this.#move({ type: "all-serving" });
    const ready = this.#slots.filter((s) => s.active?.state.kind === "ready").length;
    // Workers hear the new phase before the log announces it.
    this.#health.update(this.#currentHealth());
    this.#log.info(`${ready} of ${this.#slots.length} workers ready`, { event: "rota.started" });
    this.#lifecycle.emit({ type: "started", ready, workers: this.#slots.length });
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

  /** A worker's process is gone: it is no longer live, awaited for a configuration, or watched. */
  #release(worker: WorkerRecord): void {
    this.#live.delete(worker);
    this.#config.forget(worker);
    this.#watchdog.forget(worker);
  }

  #settleIfEmpty(): void {
    if (this.#live.size > 0) return;
    const change = this.#move({ type: "last-worker-gone" });
    if (change?.to.kind !== "stopped") return;
    const { code } = change.to;
    this.#watchdog.stop();
    this.#health.stop();
    this.#messages.flushWarnings();
    this.#log.info(`stopped, exit code ${code}`, { event: "rota.stopped" });
    this.#lifecycle.emit({ type: "stopped", code });
    this.#resolveClosed(code);
  }
}
