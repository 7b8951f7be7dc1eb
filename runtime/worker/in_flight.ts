/**
 * The requests a worker is running: how many, how many it finished, and the
 * oldest one, which the heartbeat reports so that the supervisor's watchdog
 * can say which request a wedged worker was running.
 *
 * A request that blocks the event loop as soon as it starts would never be
 * seen by a periodic heartbeat, so a starting request is announced at once
 * (an out-of-turn heartbeat) when no other start was announced in the last
 * `announceEveryMs`: an isolated request is always named, and under load the
 * announcements cost at most a few messages a second.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { pathOf } from "./route.ts";

/** The oldest running request, as a heartbeat carries it. */
export interface OldestRequest {
  readonly method: string;
  /** The URL's path, without the query string (which may hold secrets). */
  readonly path: string;
  /** How long it has been running, in milliseconds. */
  readonly ageMs: number;
}

/** Options for {@linkcode InFlight}. */
export interface InFlightOptions {
  /** Where start times come from. */
  clock: Clock;
  /** Called synchronously as a request starts, at most once per `announceEveryMs`. @default {nothing} */
  announce?: () => void;
  /** @default {100} */
  announceEveryMs?: number;
}

interface Running {
  readonly request: Request;
  readonly startedAt: number;
}

/**
 * A worker's running requests, in the order they started.
 *
 * The request begun last is kept in three fields rather than an entry of the
 * map; it moves into the map only when another one begins before it ended.
 * Most answers are synchronous (a Hono route that returns its response): such
 * a request begins and ends within one call and never touches the map, which
 * cost an object and a map entry per request (part of ~0.4 µs per answer on
 * Deno, README "Benchmarks").
 *
 * @example
 * ```ts
 * const inFlight = new InFlight({ clock: systemClock });
 * const id = inFlight.begin(request);
 * try { return await app.fetch(request); } finally { inFlight.end(id); }
 * ```
 */
export class InFlight {
  #clock: Clock;
  #announce: () => void;
  #announceEveryMs: number;
  #announcedAt = -Infinity;
  // A Map iterates in insertion order: its first entry is the oldest request.
  #running = new Map<number, Running>();
  // The request begun last, newer than every one in the map; -1: none, or it ended.
  #currentId = -1;
  #currentRequest: Request | undefined;
  #currentStartedAt = 0;
  #next = 0;
  #finished = 0;

  /** @param options The clock, and whom to tell when a request starts. */
  constructor(options: InFlightOptions) {
    const { clock, announce = () => {}, announceEveryMs = 100 } = options;
    this.#clock = clock;
    this.#announce = announce;
    this.#announceEveryMs = announceEveryMs;
  }

  /** Requests running now. */
  get size(): number {
    return this.#running.size + (this.#currentId === -1 ? 0 : 1);
  }

  /** Requests whose handler finished, since the worker started. */
  get finished(): number {
    return this.#finished;
  }

  /**
   * A request's handler starts.
   *
   * @param request The request.
   * @param startedAt When it started, on the clock's scale. @default {the clock's now}
   * @returns Its ticket, for {@linkcode InFlight.end}.
   */
  begin(request: Request, startedAt: number = this.#clock.now()): number {
    // The one begun before still runs (its handler returned a promise): into the map, after every older one.
    if (this.#currentId !== -1) {
      this.#running.set(this.#currentId, { request: this.#currentRequest!, startedAt: this.#currentStartedAt });
    }
    const id = this.#next++;
    this.#currentId = id;
    this.#currentRequest = request;
    this.#currentStartedAt = startedAt;
    if (startedAt - this.#announcedAt >= this.#announceEveryMs) {
      this.#announcedAt = startedAt;
      this.#announce();
    }
    return id;
  }

  /**
   * A request's handler finished (answered or threw; one past `--request-timeout`, which rota answered for, ends
   * only when the app's own answer comes).
   *
   * @param id Its ticket; a second call for the same ticket is ignored.
   */
  end(id: number): void {
    if (id === this.#currentId) {
      this.#currentId = -1;
      this.#currentRequest = undefined;
      this.#finished++;
    } else if (this.#running.delete(id)) this.#finished++;
  }

  /**
   * The oldest running request.
   *
   * @returns Its method, path and age, or `undefined` when none runs.
   */
  oldest(): OldestRequest | undefined {
    const first = this.#running.values().next();
    if (!first.done) return this.#describe(first.value.request, first.value.startedAt);
    if (this.#currentId === -1) return undefined;
    return this.#describe(this.#currentRequest!, this.#currentStartedAt);
  }

  #describe(request: Request, startedAt: number): OldestRequest {
    return { method: request.method, path: pathOf(request.url), ageMs: Math.round(this.#clock.now() - startedAt) };
  }
}
