/**
 * Signals that arrive before rota listens for them. Loading the program takes
 * about 100 ms on Node 20, and a SIGTERM in that window took the default
 * action: the process ended at once, with no log line and no cleanup. The
 * entry point holds them from its first moment and hands them over once the
 * command line (or the worker) listens.
 *
 * @module
 */

import type { HostSignal } from "../runtime/host.ts";

/** The signals rota acts on. */
const SIGNALS: readonly HostSignal[] = ["SIGTERM", "SIGINT", "SIGHUP"];

/** Signals held since the program started. */
export interface HeldSignals {
  /** Stop holding, and deliver what was held, in order, to the listeners there are now. */
  release(): void;
}

/** The parts of Node's `process` (also Bun's) this file uses: the global, so that Deno never loads it. */
interface NodeProcess {
  readonly pid: number;
  on(signal: string, listener: () => void): void;
  off(signal: string, listener: () => void): void;
  listenerCount(signal: string): number;
  emit(signal: string): boolean;
  kill(pid: number, signal: string): void;
}

/** The parts of the `Deno` global this file uses. */
interface DenoSignals {
  readonly pid: number;
  addSignalListener(signal: HostSignal, listener: () => void): void;
  removeSignalListener(signal: HostSignal, listener: () => void): void;
  kill(pid: number, signal: HostSignal): void;
}

/**
 * Hold rota's signals from now until `release()`. On Deno through its own
 * API, so that a worker that never loads Node's compatibility layer can hold
 * them too; a held signal is raised again at release, to whatever listens
 * then, or to Deno's default action when nothing does. (Raised again, the
 * same signal held twice arrives once, and several arrive in the kernel's
 * order rather than theirs: on Deno a second Ctrl-C in the first ~100 ms of a
 * start does not force the stop that a second one later does.)
 *
 * @returns The handle.
 * @example
 * ```ts
 * const held = holdSignals();
 * // … install the real listeners …
 * held.release();
 * ```
 */
export function holdSignals(): HeldSignals {
  const received: HostSignal[] = [];
  const holders = SIGNALS.map((signal) => [signal, () => void received.push(signal)] as const);
  const deno = (globalThis as { Deno?: DenoSignals }).Deno;
  if (deno) {
    for (const [signal, hold] of holders) deno.addSignalListener(signal, hold);
    return {
      release() {
        for (const [signal, hold] of holders) deno.removeSignalListener(signal, hold);
        for (const signal of received.splice(0)) deno.kill(deno.pid, signal);
      },
    };
  }
  const process = (globalThis as unknown as { process: NodeProcess }).process;
  for (const [signal, hold] of holders) process.on(signal, hold);
  return {
    release() {
      for (const [signal, hold] of holders) process.off(signal, hold);
      for (const signal of received.splice(0)) {
        if (process.listenerCount(signal) > 0) process.emit(signal);
        // Nobody listens (--help, check): the default action, as if rota had never held it.
        else process.kill(process.pid, signal);
      }
    },
  };
}
