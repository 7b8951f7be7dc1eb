/**
 * The rota's phase, from `idle` to `stopped`, the one transition function
 * that moves it, and how a stop is asked for.
 *
 * ```
 * idle ─start─▶ starting ─all-serving─▶ running
 * idle, starting, running ─stop-asked─▶ stopping ─last-worker-gone─▶ stopped (with the exit code)
 * stopping ─stop-asked (forced)─▶ stopping (forced, the exit code of the forced stop, no delay)
 * stopping ─delay-started─▶ stopping (holding the --shutdown-delay timer) ─delay-over─▶ stopping
 * ```
 *
 * The supervisor (`supervisor.ts`) alone moves the phase, through
 * {@linkcode nextPhase}: `start()`, the first moment every slot serves, its
 * one stop path and its stages, and the exit of the last worker. The modules
 * that act for it (`succession.ts`, `worker_exit.ts`, `recycling.ts`) only
 * read the phase, and ask the supervisor for a stop.
 *
 * @module
 */

import type { TimerHandle } from "../clock.ts";
import type { RotaError } from "../errors.ts";

/** Where the rota is in its life. */
export type Phase =
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
export interface Stop {
  readonly code: number;
  readonly force: boolean;
  readonly delay?: boolean;
  readonly error?: RotaError;
}

/** What can happen to the rota's phase. */
export type PhaseEvent =
  /** `start()` was called; `resolve` and `reject` settle the promise it returned. */
  | { readonly type: "start"; readonly resolve: () => void; readonly reject: (error: unknown) => void }
  /** Every slot has a worker that is ready or failing, and the port accepts connections. */
  | { readonly type: "all-serving" }
  /**
   * A stop was asked for (see {@linkcode Stop}). `error`: why, for a start
   * that is cut short (the start's promise rejects with it); the phase does
   * not keep it.
   */
  | { readonly type: "stop-asked"; readonly code: number; readonly force: boolean; readonly error?: RotaError }
  /** The `--shutdown-delay` timer was set: the phase holds it, so that a forced stop or the end can clear it. */
  | { readonly type: "delay-started"; readonly timer: TimerHandle }
  /** The `--shutdown-delay` timer fired: the drain starts. */
  | { readonly type: "delay-over" }
  /** No worker is left. */
  | { readonly type: "last-worker-gone" };

/**
 * The transition function: where `event` takes the rota in `phase`. An event
 * that means nothing in a phase (a second start, a graceful stop of a rota
 * already stopping, a forced stop of one already forced) leaves the phase as
 * it is, and the same object is returned.
 *
 * A forced stop overrides a graceful one in progress: it takes its own exit
 * code and drops the `--shutdown-delay` timer. The timer is taken only by a
 * graceful stop that holds none yet.
 *
 * @param phase Where the rota is.
 * @param event What happened.
 * @returns Where it is now.
 * @example
 * ```ts
 * nextPhase({ kind: "running" }, { type: "stop-asked", code: 0, force: false });
 * // { kind: "stopping", code: 0, forced: false, delay: undefined }
 * ```
 */
export function nextPhase(phase: Phase, event: PhaseEvent): Phase {
  switch (event.type) {
    case "start":
      return phase.kind === "idle" ? { kind: "starting", resolve: event.resolve, reject: event.reject } : phase;
    case "all-serving":
      return phase.kind === "starting" ? { kind: "running" } : phase;
    case "stop-asked":
      if (phase.kind === "stopped") return phase;
      if (phase.kind === "stopping") {
        return event.force && !phase.forced
          ? { kind: "stopping", code: event.code, forced: true, delay: undefined }
          : phase;
      }
      return { kind: "stopping", code: event.code, forced: event.force, delay: undefined };
    case "delay-started":
      return phase.kind === "stopping" && !phase.forced && phase.delay === undefined
        ? { ...phase, delay: event.timer }
        : phase;
    case "delay-over":
      return phase.kind === "stopping" && phase.delay !== undefined ? { ...phase, delay: undefined } : phase;
    case "last-worker-gone":
      return phase.kind === "stopping" ? { kind: "stopped", code: phase.code } : phase;
  }
}

/**
 * Whether the rota is on its way out: no worker starts any more, every one drains.
 *
 * @param phase The phase's kind.
 * @returns True while stopping and once stopped.
 */
export function isStopping(phase: Phase["kind"]): boolean {
  return phase === "stopping" || phase === "stopped";
}
