/**
 * The staged drain of a worker's server: stop accepting, keep answering on
 * open keep-alive connections with `Connection: close` for a moment, then
 * close idle connections and wait for in-flight requests, open WebSockets and
 * `waitUntil` work, at most the graceful timeout, after which WebSockets are
 * closed with 1001 (going away) and every connection is cut.
 *
 * @module
 */

import { type Clock, sleep } from "../clock.ts";
import type { Listener } from "../host.ts";
import type { Logger } from "../log.ts";
import type { OpenSockets } from "./web_sockets.ts";

/**
 * How long a draining worker, having stopped accepting (where the runtime
 * allows), keeps answering on open keep-alive connections (every answer
 * carrying `Connection: close`) before it closes idle ones.
 * Closing an idle connection races the client's next request on it; giving
 * clients this long to send it and read `Connection: close` is what measured
 * zero lost requests on all three runtimes (see RUNTIME-NOTES.md).
 */
export const DRAIN_SETTLE_MS = 500;

/** Options for {@linkcode drainServer}. */
export interface DrainOptions {
  /** The clock the waits run on. */
  clock: Clock;
  /** The longest the whole drain may take, in milliseconds. */
  gracefulTimeout: number;
  /** Resolves once `waitUntil` work is done. */
  pending(): Promise<void>;
  /** Where a cut-off is logged. */
  log: Logger;
  /** The worker's open WebSockets, waited for like requests. @default {none} */
  sockets?: Pick<OpenSockets, "size" | "idle" | "goAway">;
  /** No other worker takes over the port: the rota stops (see `Listener.stopAccepting`). @default {false} */
  final?: boolean;
  /** Milliseconds of the graceful timeout already spent before this drain began. @default {0} */
  spent?: number;
}

/**
 * Drain `listener` in stages.
 *
 * @param listener The worker's server.
 * @param options Timings, pending work and log.
 * @returns True when everything finished in time; false when the graceful
 * timeout cut remaining connections.
 */
export async function drainServer(listener: Listener, options: DrainOptions): Promise<boolean> {
  const { clock, gracefulTimeout, pending, log, sockets, final = false, spent = 0 } = options;
  const left = Math.max(0, gracefulTimeout - spent);
  // Made before anything waits, so that it cannot be missed when it is due as soon as the settle ends.
  let timer: unknown;
  const timedOut = new Promise<false>((resolve) => (timer = clock.setTimeout(() => resolve(false), left)));
  await listener.stopAccepting(final);
  await Promise.race([sleep(clock, Math.min(DRAIN_SETTLE_MS, left)), timedOut]);
  const finished = await Promise.race([
    Promise.all([listener.close(), pending(), sockets?.idle()]).then(() => true),
    timedOut,
  ]);
  clock.clearTimeout(timer);
  if (!finished) {
    const open = sockets?.size ?? 0;
    const webSockets = open > 0 ? `${open} WebSocket${open === 1 ? "" : "s"} with 1001 (going away) and ` : "";
    log.warn(`graceful timeout of ${gracefulTimeout}ms passed; closing ${webSockets}remaining connections`);
    // Before the connections are cut, so that clients get the close frame.
    await sockets?.goAway();
    listener.closeAll();
  }
  return finished;
}
