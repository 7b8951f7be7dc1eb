/**
 * The health paths on the app port: `<prefix>/ready` and `<prefix>/live`,
 * answered by whichever worker gets the connection, from what the supervisor
 * told it, before the request reaches the app, its init gate or its limits.
 * So a load balancer or a Kubernetes probe hears the rota's truth even from a
 * worker whose own init is failing (and by the readiness rule every worker
 * accepts while none is ready, so a probe gets an answer while any lives).
 *
 * `ready`: 200 while at least one worker of the rota is ready and the rota is
 * not stopping, else 503. `live`: 200 while the supervisor's messages keep
 * coming (it sends the health every second from its own event loop), 503 once
 * it has been silent for `LIVE_SILENCE_MS`: a supervisor whose loop is stuck
 * can no longer replace workers, which a restart would cure.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { RotaHealth } from "../protocol.ts";

/** How long the supervisor may be silent before `live` answers 503 (it speaks every second). */
export const LIVE_SILENCE_MS = 5000;

const NO_STORE = { "cache-control": "no-store" };

/**
 * The answer to `<prefix>/ready`: the same body the admin listener gives.
 *
 * @param health The rota's health.
 * @returns 200 or 503 with `{ ready, phase, workersReady }`.
 * @example
 * ```ts
 * readyResponse({ ready: true, workersReady: 2, phase: "running", pid: 1 }).status; // 200
 * ```
 */
export function readyResponse(health: RotaHealth): Response {
  return Response.json(
    { ready: health.ready, phase: health.phase, workersReady: health.workersReady },
    { status: health.ready ? 200 : 503, headers: NO_STORE },
  );
}

/**
 * The answer to `<prefix>/live`.
 *
 * @param health The rota's health, as last heard.
 * @param silentMs How long ago the supervisor last spoke; omit when it answers itself.
 * @returns 200 while the supervisor speaks, 503 with how long it has been silent otherwise.
 */
export function liveResponse(health: RotaHealth, silentMs = 0): Response {
  const live = silentMs <= LIVE_SILENCE_MS;
  return Response.json(
    { live, pid: health.pid, phase: health.phase, ...(live ? {} : { silentMs: Math.round(silentMs) }) },
    { status: live ? 200 : 503, headers: NO_STORE },
  );
}

/** Options for {@linkcode HealthPaths}. */
export interface HealthPathsOptions {
  /** The path prefix, e.g. `/_rota`; empty turns the paths off. */
  prefix: string;
  /** The rota's health when the worker started. */
  initial: RotaHealth;
  /** When the supervisor was last heard. */
  clock: Clock;
}

/** Which health path a request asks for. */
type Asked = "ready" | "live" | undefined;

/**
 * A worker's answers to the health paths.
 *
 * @example
 * ```ts
 * const health = new HealthPaths({ prefix: "/_rota", initial: spec.health, clock });
 * const answer = health.answer(request); // a Response for /_rota/ready or /_rota/live, else undefined
 * ```
 */
export class HealthPaths {
  #prefix: string;
  #clock: Clock;
  #health: RotaHealth;
  #heardAt: number;
  /** Told once the supervisor says the rota stops. */
  #onStopping = new Set<() => void>();

  /** @param options The prefix, the initial health and the clock. */
  constructor(options: HealthPathsOptions) {
    this.#prefix = options.prefix;
    this.#clock = options.clock;
    this.#health = options.initial;
    this.#heardAt = options.clock.now();
  }

  /** The rota's phase, as the supervisor last told it. */
  get phase(): RotaHealth["phase"] {
    return this.#health.phase;
  }

  /** The supervisor spoke (any message proves its loop turns). */
  heard(): void {
    this.#heardAt = this.#clock.now();
  }

  /**
   * The supervisor sent the rota's health.
   *
   * @param health What it sent.
   */
  update(health: RotaHealth): void {
    this.#health = health;
    this.heard();
    if (health.phase === "stopping") this.#tellStopping();
  }

  /** The supervisor is gone: the rota stops, for whoever waits on {@linkcode HealthPaths.stopping}. */
  supervisorGone(): void {
    this.#health = { ...this.#health, phase: "stopping", ready: false };
    this.#tellStopping();
  }

  #tellStopping(): void {
    for (const told of this.#onStopping) told();
    this.#onStopping.clear();
  }

  /**
   * Whether the rota stops, waiting at most `ms` for the supervisor to say so.
   *
   * @param ms The longest wait, in milliseconds.
   * @returns True once the supervisor said "stopping" (at once if it has); false when `ms` passed first.
   */
  stopping(ms: number): Promise<boolean> {
    if (this.#health.phase === "stopping") return Promise.resolve(true);
    return new Promise((resolve) => {
      const told = () => {
        this.#clock.clearTimeout(timer);
        resolve(true);
      };
      const timer = this.#clock.setTimeout(() => {
        this.#onStopping.delete(told);
        resolve(false);
      }, ms);
      this.#onStopping.add(told);
    });
  }

  /**
   * Answer a health path, or leave the request to the app.
   *
   * @param request Any request to the app port.
   * @returns The answer for `GET`/`HEAD <prefix>/ready` or `<prefix>/live`, else `undefined`.
   */
  answer(request: Request): Response | undefined {
    const asked = this.#asked(request);
    if (asked === undefined) return undefined;
    if (asked === "ready") return readyResponse(this.#health);
    return liveResponse(this.#health, this.#clock.now() - this.#heardAt);
  }

  /** Cheap on every request: no URL object unless the path starts with the prefix. */
  #asked(request: Request): Asked {
    const prefix = this.#prefix;
    if (prefix === "") return undefined;
    const url = request.url;
    const start = url.indexOf("/", url.indexOf("//") + 2);
    if (start < 0 || !url.startsWith(prefix, start)) return undefined;
    const rest = url.slice(start + prefix.length);
    const end = rest.search(/[?#]/);
    const path = end < 0 ? rest : rest.slice(0, end);
    if (path !== "/ready" && path !== "/live") return undefined;
    if (request.method !== "GET" && request.method !== "HEAD") return undefined;
    return path === "/ready" ? "ready" : "live";
  }
}
