/**
 * One worker as the supervisor sees it, and the one transition function that
 * moves it through its life. Every path (messages, drains, exits) goes through
 * {@linkcode WorkerRecord.apply}; readiness is read off the state.
 *
 * ```
 * loading ─loaded─▶ starting ─init ok─▶ initialised ─listening─▶ ready ─drain─▶ draining ─exit─▶ exited (retired)
 *                     │  ╲ (already listening: straight to ready)  ▲
 *                     │   init failed ─▶ failing ─init ok──────────┘ (or initialised, when not listening)
 * starting and failing carry whether they listen (`listening` / `paused` events)
 * loading, starting ─fatal─▶ fatal ─exit─▶ exited (crashed, with why)
 * any live state ─drain─▶ draining;  any live state ─exit─▶ exited (crashed)
 * any live state ─kill─▶ killed ─exit─▶ exited (killed, with why)
 * ```
 *
 * @module
 */

import type { TimerHandle } from "../clock.ts";
import type { Clock } from "../clock.ts";
import type { ProcessExit, WorkerProcess } from "../host.ts";
import type { SupervisorMessage } from "../protocol.ts";

/** Why a worker cannot serve at all (a bad module, the port in use), as it told the supervisor. */
export interface Fatal {
  readonly code: string;
  readonly message: string;
}

/**
 * Why the supervisor killed a worker: its heartbeats stopped, it was not up
 * (or ready) within `--startup-timeout`, it was a replacement whose init
 * ignores its abort signal, or the rota was stopped by force.
 */
export type KillReason = "watchdog" | "startup-timeout" | "init-hung" | "forced-stop";

/** How a worker process ended: asked to (it was draining), killed by the supervisor, or on its own. */
export type WorkerExit =
  | { readonly kind: "retired"; readonly exit: ProcessExit }
  | { readonly kind: "killed"; readonly exit: ProcessExit; readonly reason: KillReason }
  | { readonly kind: "crashed"; readonly exit: ProcessExit; readonly fatal?: Fatal };

/** Where a worker is in its life. */
export type WorkerState =
  /** Spawned: its process starts and imports the app. */
  | { readonly kind: "loading" }
  /** The app is loaded and its first init attempt runs. */
  | { readonly kind: "starting"; readonly listening: boolean }
  /** An init attempt succeeded, but it does not listen yet. */
  | { readonly kind: "initialised" }
  /** Listening, and an init attempt succeeded: it serves. */
  | { readonly kind: "ready" }
  /** Alive, but its last init attempt failed: it answers 503 and retries. */
  | { readonly kind: "failing"; readonly listening: boolean }
  /** Told to stop (or stopping on its own): finishing its requests, then `dispose`. */
  | { readonly kind: "draining" }
  /** It said it cannot serve at all and is exiting. */
  | { readonly kind: "fatal"; readonly fatal: Fatal }
  /** The supervisor sent it SIGKILL. */
  | { readonly kind: "killed"; readonly reason: KillReason }
  /** The process is gone. */
  | { readonly kind: "exited"; readonly ended: WorkerExit };

/** What can happen to a worker. */
export type WorkerEvent =
  | { readonly type: "loaded" }
  | { readonly type: "listening" }
  | { readonly type: "paused" }
  | { readonly type: "init-ok" }
  | { readonly type: "init-failed" }
  | { readonly type: "fatal"; readonly fatal: Fatal }
  | { readonly type: "drain" }
  | { readonly type: "kill"; readonly reason: KillReason }
  | { readonly type: "exit"; readonly exit: ProcessExit };

/** The state a worker starts in. */
export const SPAWNED: WorkerState = { kind: "loading" };

/**
 * The transition function: where `event` takes a worker in `state`. An event
 * that means nothing in a state (a late message, a second drain) leaves the
 * state as it is, and the same object is returned.
 *
 * @param state Where the worker is.
 * @param event What happened.
 * @returns Where it is now.
 * @example
 * ```ts
 * nextState({ kind: "failing", listening: true }, { type: "init-ok" }); // { kind: "ready" }
 * ```
 */
export function nextState(state: WorkerState, event: WorkerEvent): WorkerState {
  if (state.kind === "exited") return state;
  if (event.type === "exit") {
    const ended: WorkerExit = state.kind === "draining"
      ? { kind: "retired", exit: event.exit }
      : state.kind === "killed"
      ? { kind: "killed", exit: event.exit, reason: state.reason }
      : state.kind === "fatal"
      ? { kind: "crashed", exit: event.exit, fatal: state.fatal }
      : { kind: "crashed", exit: event.exit };
    return { kind: "exited", ended };
  }
  if (state.kind === "killed") return state;
  if (event.type === "kill") return { kind: "killed", reason: event.reason };
  if (state.kind === "draining" || state.kind === "fatal") return state;
  switch (event.type) {
    case "fatal":
      return { kind: "fatal", fatal: event.fatal };
    case "drain":
      return { kind: "draining" };
    case "loaded":
      return state.kind === "loading" ? { kind: "starting", listening: false } : state;
    case "listening":
      if (state.kind === "loading") return { kind: "starting", listening: true };
      if (state.kind === "initialised") return { kind: "ready" };
      if ((state.kind === "starting" || state.kind === "failing") && !state.listening) {
        return { kind: state.kind, listening: true };
      }
      return state;
    case "paused":
      if (state.kind === "ready") return { kind: "initialised" };
      if ((state.kind === "starting" || state.kind === "failing") && state.listening) {
        return { kind: state.kind, listening: false };
      }
      return state;
    case "init-ok":
      if (state.kind === "loading") return { kind: "initialised" };
      if (state.kind === "starting" || state.kind === "failing") {
        return state.listening ? { kind: "ready" } : { kind: "initialised" };
      }
      return state;
    case "init-failed":
      if (state.kind === "loading") return { kind: "failing", listening: false };
      if (state.kind === "starting") return { kind: "failing", listening: state.listening };
      if (state.kind === "ready") return { kind: "failing", listening: true };
      return state;
  }
}

/**
 * Whether a worker in this state is alive and not on its way out.
 *
 * @param state The state.
 * @returns True for starting, ready and failing workers.
 */
export function isServing(state: WorkerState): boolean {
  return state.kind === "loading" || state.kind === "starting" || state.kind === "initialised" ||
    state.kind === "ready" || state.kind === "failing";
}

/**
 * Whether a worker in this state accepts connections.
 *
 * @param state The state.
 * @returns True for ready workers, and starting or failing ones that listen.
 */
export function isListening(state: WorkerState): boolean {
  return state.kind === "ready" || ((state.kind === "starting" || state.kind === "failing") && state.listening);
}

/** One worker: its process, its state, and the timers that belong to it. */
export class WorkerRecord {
  readonly slot: number;
  readonly generation: number;
  readonly child: WorkerProcess;
  /** When it was spawned, on the supervisor's clock. */
  readonly startedAt: number;
  #state: WorkerState = SPAWNED;
  #readyAt: number | undefined;
  #timers = new Set<TimerHandle>();
  #clock: Clock;
  /** Messages held until the worker can take them (it said hello, or finished listening); `undefined` while it can. */
  #outbox: SupervisorMessage[] | undefined = [];
  /** The newest configuration version this worker is known to have. */
  configVersion: number;

  /**
   * @param init Who it is, its process, and the clock its timers run on.
   */
  constructor(
    init: { slot: number; generation: number; child: WorkerProcess; clock: Clock; configVersion: number },
  ) {
    this.slot = init.slot;
    this.generation = init.generation;
    this.child = init.child;
    this.#clock = init.clock;
    this.startedAt = init.clock.now();
    this.configVersion = init.configVersion;
  }

  /** Where it is. */
  get state(): WorkerState {
    return this.#state;
  }

  /** When it first became ready; `undefined` while it never was. */
  get readyAt(): number | undefined {
    return this.#readyAt;
  }

  /** `worker 0.3 (pid 1234)`, for log lines. */
  get name(): string {
    return `worker ${this.slot}.${this.generation} (pid ${this.child.pid})`;
  }

  /**
   * Apply an event: the only way the state changes. Leaving for `exited`
   * cancels every timer of this worker.
   *
   * @param event What happened.
   * @returns The state before and after, and whether it just became ready for
   * the first time; `undefined` when nothing changed.
   */
  apply(event: WorkerEvent): { from: WorkerState; to: WorkerState; firstReady: boolean } | undefined {
    const from = this.#state;
    const to = nextState(from, event);
    if (to === from) return undefined;
    this.#state = to;
    const firstReady = to.kind === "ready" && this.#readyAt === undefined;
    if (firstReady) this.#readyAt = this.#clock.now();
    if (to.kind === "exited") {
      for (const timer of this.#timers) this.#clock.clearTimeout(timer);
      this.#timers.clear();
    }
    return { from, to, firstReady };
  }

  /**
   * Send a message, or hold it until the worker listens on its channel (a
   * message that reaches a process before it listens is lost, and a `drain`
   * lost that way left a worker serving until the kill timer).
   *
   * @param message The message.
   */
  send(message: SupervisorMessage): void {
    if (this.#outbox) this.#outbox.push(message);
    else this.child.send(message);
  }

  /** The worker listens on its channel (it said hello, or finished listening): deliver what was held, in order. */
  greeted(): void {
    const held = this.#outbox;
    this.#outbox = undefined;
    for (const message of held ?? []) this.child.send(message);
  }

  /** The worker is about to listen: hold messages from now on, and tell it so. */
  hold(): void {
    this.#outbox ??= [];
    this.child.send({ rota: 1, type: "holding" });
  }

  /**
   * Run `fn` after `ms`, unless the worker exits first.
   *
   * @param ms Milliseconds.
   * @param fn What to run.
   */
  setTimer(ms: number, fn: () => void): void {
    if (this.#state.kind === "exited") return;
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }
}

/**
 * Who a worker is, for the timeline and the counters.
 *
 * @param worker The worker.
 * @returns Its slot, generation and process id.
 */
export function identity(worker: WorkerRecord): { slot: number; generation: number; pid: number } {
  return { slot: worker.slot, generation: worker.generation, pid: worker.child.pid };
}
