/**
 * Signals that arrive before rota listens for them. Loading the program takes
 * about 100 ms on Node 20, and a SIGTERM in that window took the default
 * action: the process ended at once, with no log line and no cleanup. The
 * entry point holds them from its first moment and hands them over once the
 * command line (or the worker) listens.
 *
 * @module
 */

import process from "node:process";

/** The signals rota acts on. */
const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

/** Signals held since the program started. */
export interface HeldSignals {
  /** Stop holding, and deliver what was held, in order, to the listeners there are now. */
  release(): void;
}

/**
 * Hold rota's signals from now until `release()`.
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
  const received: string[] = [];
  const hold = (signal: string) => received.push(signal);
  for (const signal of SIGNALS) process.on(signal, hold);
  return {
    release() {
      for (const signal of SIGNALS) process.off(signal, hold);
      for (const signal of received.splice(0)) {
        if (process.listenerCount(signal) > 0) process.emit(signal as NodeJS.Signals);
        // Nobody listens (--help, check): the default action, as if rota had never held it.
        else process.kill(process.pid, signal);
      }
    },
  };
}
