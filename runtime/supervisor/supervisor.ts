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
 * - `memory_watch.ts`: each worker's resident memory against the soft and hard limits.
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
import type { Logger } from "../log.ts";
import type { ResolvedOptions } from "../options.ts";
import { type HeartbeatMessage, parseWorkerMessage, type WorkerMessage } from "../protocol.ts";
import { WarningThrottle } from "../warning_throttle.ts";
import { AvailabilityClock } from "./availability.ts";
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
  /** `code`: what the rota exits with once every worker is gone. */
  | { kind: "stopping"; code: number; forced: boolean }
  | { kind: "stopped"; code: number };

/** How to stop: the exit code, whether to kill instead of drain, and why (for a start that is cut short). */
interface Stop {
  readonly code: number;
  readonly force: boolean;
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
  #closed: Promise<number>;
  #resolveClosed!: (code: number) => void;

  /**
   * @param host The runtime, supervisor side.
   * @param init Options, log, configuration and tuning.
   */
  constructor(host: SupervisorHost, init: SupervisorInit) {
    const { options, log, config = { initial: {} }, tuning = {} } = init;
    const {
      killGrace = 3000,
      stableAfter = 30000,
      respawnMin = 100,
      respawnMax = 30000,
      random = Math.random,
      ownDrainGrace = 250,
    } = tuning;
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
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
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
    this.#log.info("rolling reload of every worker");
    for (const slot of this.#slots) this.#rollout.request(slot.index, "reload");
  }

  /**
   * Stop gracefully: every worker drains (stop accepting, finish in-flight
   * requests, `dispose`) and is killed after the graceful timeout.
   *
   * @returns The exit code: 0, or what an earlier stop decided.
   */
  close(): Promise<number> {
    return this.#stop({ code: 0, force: false });
  }

  /**
   * Stop now: SIGKILL every worker, even during a graceful stop.
   *
   * @returns The exit code: 1.
   */
  forceClose(): Promise<number> {
    return this.#stop({ code: 1, force: true });
  }

  /** The one stop path: graceful or forced, from any phase. */
  #stop(how: Stop): Promise<number> {
    const phase = this.#phase;
    if (phase.kind === "stopped") return this.#closed;
    if (phase.kind === "stopping") {
      if (how.force && !phase.forced) {
        this.#phase = { kind: "stopping", code: how.code, forced: true };
        this.#log.warn("forced shutdown: killing every worker");
        for (const worker of this.#live) worker.child.kill("SIGKILL");
      }
      return this.#closed;
    }
    if (phase.kind === "starting") {
      phase.reject(how.error ?? new RotaError("ERR_ROTA_STARTUP_FAILED", "Stopped while starting"));
    }
    this.#phase = { kind: "stopping", code: how.code, forced: how.force };
    const now = this.#host.clock.now();
    this.#availability.stop(now);
    const { replacements, crashes, noWorkerReadyMs, watchdogKills } = this.stats();
    if (how.force) this.#log.warn("forced shutdown: killing every worker");
    else this.#log.info("shutting down gracefully", { replacements, crashes, noWorkerReadyMs, watchdogKills });
    this.#rollout.stop();
    this.#unwatchConfig();
    this.#memory.stop();
    for (const slot of this.#slots) this.#host.clock.clearTimeout(slot.respawn);
    for (const worker of this.#live) {
      if (how.force) worker.child.kill("SIGKILL");
      else this.#drain(worker);
    }
    this.#settleIfEmpty();
    return this.#closed;
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
    this.#log.info(`started worker ${slot.index}.${generation}`, { pid: child.pid, role });
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
      queueMicrotask(() => this.#replacementFailed(slot));
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
    if (change.firstReady) this.#onFirstReady(worker);
    const slot = this.#slots[worker.slot];
    if (slot.incoming === worker && (change.to.kind === "ready" || (slot.urgent && isListening(change.to)))) {
      this.#promote(slot);
    }
    this.#checkStarted();
    return change;
  }

  #onFirstReady(worker: WorkerRecord): void {
    const { maxLifetime, workers } = this.#options;
    if (maxLifetime <= 0) return;
    const lifetime = stagger(maxLifetime, maxLifetime / 10, worker.slot, workers);
    worker.setTimer(lifetime, () => this.#recycle(worker, `lived ${lifetime}ms (max lifetime)`));
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
          this.#log.info(`listening on http://${this.#options.hostname}:${this.#options.port}`);
        }
        worker.greeted();
        // A version published while the worker was loading may have found no listener yet.
        if (worker.configVersion < this.#config.current.version) this.#sendConfig(worker);
        this.#apply(worker, { type: "listening" });
        return;
      case "init-ok":
        this.#apply(worker, { type: "init-ok" });
        return;
      case "init-failed": {
        const change = this.#apply(worker, { type: "init-failed" });
        if (change?.to.kind === "failing" && change.from.kind !== "failing") {
          this.#log.warn(
            `${worker.name} is failing: init attempt ${message.attempt} failed (${message.code}); it stays up and retries`,
          );
        }
        return;
      }
      case "init-hung":
        this.#log.error(`${worker.name}: init attempt ${message.attempt} ignores its abort signal`);
        if (this.#slots[worker.slot].incoming === worker) worker.child.kill("SIGKILL");
        else this.#rollout.request(worker.slot);
        return;
      case "fatal":
        this.#apply(worker, { type: "fatal", fatal: { code: message.code, message: message.message } });
        return;
      case "recycle":
        return this.#recycle(worker, message.detail);
      case "publish":
        return this.#publish(worker, message.id, message.value, message.ifVersion);
      case "config-ack":
        worker.configVersion = Math.max(worker.configVersion, message.version);
        this.#config.acknowledge(worker, message.version, message.ok, message.message);
        return;
      case "heartbeat":
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
        this.#log.info(`configuration version ${version} published by ${worker.name}`);
        worker.send({ rota: 1, type: "publish-result", id, ok: true, version, failed: [...failed] });
      },
      (error) => {
        const code = error instanceof RotaError ? error.code : "ERR_ROTA_CONFIG";
        if (code !== "ERR_ROTA_CONFIG_CONFLICT") {
          const { version } = this.#config.current;
          this.#log.error(
            `${describeError(error)}; the publish by ${worker.name} was refused, version stays ${version}`,
          );
        }
        worker.send({ rota: 1, type: "publish-result", id, ok: false, code, message: describeError(error) });
      },
    );
  }

  #recycle(worker: WorkerRecord, why: string): void {
    if (this.#slots[worker.slot].active !== worker || !isServing(worker.state)) return;
    this.#log.info(`recycling ${worker.name}: ${why}`);
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
    this.#log.info(`${ready} of ${this.#slots.length} workers ready`);
    phase.resolve();
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
      this.#log.error(`${worker.name} was not ${what} within ${this.#options.startupTimeout}ms; draining it`);
      return this.#drain(worker);
    }
    this.#log.error(`${worker.name} was not ${what} within ${this.#options.startupTimeout}ms; killing it`);
    worker.child.kill("SIGKILL");
  }

  /** A worker drains because it was told so by someone else (a signal to it, a lost supervisor). */
  #drainingOnItsOwn(worker: WorkerRecord, reason: string): void {
    const change = this.#apply(worker, { type: "drain" });
    if (!change) return;
    this.#log.warn(`${worker.name} is draining on its own (${reason})`);
    this.#killAfterGrace(worker);
    // Replace it as a recycle (not a crash: no back-off), after a moment: a signal sent to the whole
    // process group (Ctrl-C in a terminal) reaches the supervisor too, which then stops everything instead.
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
      if (wasIncoming) return this.#replacementFailed(slot);
      // The slot's own worker left (it drained on its own) before a replacement took over: the replacement becomes
      // the slot's worker now, ready or not, or a new one starts at once.
      if (wasActive && slot.incoming) return this.#adoptIncoming(slot);
      return this.#fill(slot);
    }
    if (this.#phase.kind === "starting" && ended.fatal) {
      const error = new RotaError(ended.fatal.code as RotaErrorCode, ended.fatal.message);
      return void this.#stop({ code: 0, force: false, error });
    }
    if (wasIncoming) return this.#replacementFailed(slot);
    if (wasActive) {
      if (slot.incoming) return this.#adoptIncoming(slot);
      this.#respawnAfterCrash(slot, worker.readyAt);
    }
  }

  #report(worker: WorkerRecord, ended: WorkerExit): void {
    const how = ended.exit.signal ? `signal ${ended.exit.signal}` : `code ${ended.exit.code}`;
    if ((ended.kind === "retired" && (ended.exit.code ?? 1) !== 0) || ended.kind === "killed") {
      // Killed by rota (the watchdog, the kill timer: said before), or by someone else while it drained (an OOM kill).
      this.#log.warn(`${worker.name} exited (${how})`);
    } else if (ended.kind === "retired") {
      this.#log.info(`${worker.name} exited (${how})`);
    } else if (ended.fatal) {
      this.#log.error(`${worker.name} cannot serve: ${ended.fatal.message}`, { code: ended.fatal.code });
    } else {
      this.#log.error(`${worker.name} exited unexpectedly (${how})`);
    }
  }

  /** A replacement failed (crashed, killed, or refused): the active worker keeps serving; try again later. */
  #replacementFailed(slot: Slot): void {
    const { failures, wait } = this.#rollout.failed(slot.index);
    if (failures > 1) this.#log.warn(`slot ${slot.index}: retrying in ${wait}ms after ${failures} failures`);
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
      this.#log.error(`${why}, exit code 1, for the service manager to restart rota`);
      void this.#stop({ code: 1, force: false, error: new RotaError("ERR_ROTA_STARTUP_FAILED", why) });
      return;
    }
    const { consecutive } = decision.history;
    const after = Math.max(0, Math.round(decision.after - waited));
    if (consecutive > 1 && after > 0) {
      this.#log.warn(`slot ${slot.index}: retrying in ${after}ms after ${consecutive} failures`);
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
    );
    // The slot is seen to first: the exit may be reported while `kill` runs.
    const slot = this.#slots[worker.slot];
    if (slot.incoming === worker) {
      slot.incoming = undefined;
      this.#replacementFailed(slot);
    } else if (slot.active === worker) {
      slot.active = undefined;
      if (slot.incoming) this.#adoptIncoming(slot);
      else if (!this.#isStopping()) this.#respawnAfterCrash(slot, worker.readyAt, silentMs);
    }
    worker.child.kill("SIGKILL");
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
      this.#log.warn(`${uses}, above --max-memory ${mebibytes(this.#options.maxMemory)}MB: recycling`);
      this.#rollout.request(slot.index);
      return;
    }
    this.#log.warn(
      `${uses}, above the hard limit of ${mebibytes(hardMemoryLimit(this.#options.maxMemory))}MB: replacing it now`,
    );
    const othersServe = [...this.#live].some((other) => other !== worker && other.state.kind === "ready");
    if (othersServe) {
      slot.active = undefined;
      this.#drain(worker);
      if (slot.incoming) return this.#adoptIncoming(slot);
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
    this.#log.info(`${incoming.name} is ready and replaces ${outgoing ? outgoing.name : "nobody"}`);
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
      this.#log.warn(`${worker.name} did not exit after draining; killing it`);
      worker.child.kill("SIGKILL");
    });
  }

  #settleIfEmpty(): void {
    const phase = this.#phase;
    if (phase.kind !== "stopping" || this.#live.size > 0) return;
    this.#watchdog.stop();
    this.#throttle.flush();
    this.#phase = { kind: "stopped", code: phase.code };
    this.#resolveClosed(phase.code);
  }
}

function mebibytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
