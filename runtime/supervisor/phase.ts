/**
 * The rota's phase, from `idle` to `stopped`, and how a stop is asked for.
 * The supervisor (`supervisor.ts`) alone moves the phase: `start()` to
 * starting, the first moment every slot serves to running, its one stop path
 * to stopping, and the exit of the last worker to stopped. The modules that
 * act for it (`succession.ts`, `worker_exit.ts`, `recycling.ts`) only read
 * the phase, and ask the supervisor for a stop.
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

/**
 * Whether the rota is on its way out: no worker starts any more, every one drains.
 *
 * @param phase The phase's kind.
 * @returns True while stopping and once stopped.
 */
export function isStopping(phase: Phase["kind"]): boolean {
  return phase === "stopping" || phase === "stopped";
}
