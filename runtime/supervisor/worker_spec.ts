/**
 * What a new worker is told: its slot, its timings, its slot's share of the
 * recycling limits, and the configuration it starts with.
 *
 * @module
 */

import type { ResolvedOptions } from "../options.ts";
import type { RotaHealth, Versioned, WorkerSpec } from "../protocol.ts";

/** How often workers send a heartbeat when the watchdog is off or patient. */
export const HEARTBEAT_MS = 1000;

/**
 * The heartbeat interval for a watchdog timeout: every second, or a quarter
 * of a timeout under 4 s, so that a worker always has a few beats of slack
 * before it counts as wedged.
 *
 * @param watchdogTimeout `--watchdog-timeout`, in milliseconds; 0 is off.
 * @returns Milliseconds between heartbeats.
 * @example
 * ```ts
 * heartbeatInterval(2000); // 500
 * ```
 */
export function heartbeatInterval(watchdogTimeout: number): number {
  if (watchdogTimeout <= 0) return HEARTBEAT_MS;
  return Math.max(50, Math.min(HEARTBEAT_MS, Math.floor(watchdogTimeout / 4)));
}

/**
 * `limit` plus slot `slot`'s share of `spread`: slot i of W adds
 * `round(spread × i / W)`, so slots reach their limits one after another and
 * never all recycle at once. Deterministic, unlike gunicorn's random jitter, so
 * the spread is guaranteed rather than likely.
 *
 * @param limit The limit; 0 or less means off and stays 0.
 * @param spread How far apart the first and the last slot may be.
 * @param slot The slot, from 0.
 * @param workers How many slots.
 * @returns The slot's limit.
 * @example
 * ```ts
 * [0, 1, 2, 3].map((slot) => stagger(1000, 500, slot, 4)); // [1000, 1125, 1250, 1375]
 * ```
 */
export function stagger(limit: number, spread: number, slot: number, workers: number): number {
  if (limit <= 0) return 0;
  return limit + Math.round((spread * slot) / workers);
}

/**
 * Build the spec of a new worker.
 *
 * @param options The rota's options (`app` an absolute URL).
 * @param who Its slot and generation.
 * @param config The configuration it starts with.
 * @param peersReady How many other workers are ready (while any is, it accepts only once its init succeeded).
 * @param context The rota's health now, and whether log lines are coloured.
 * @returns The spec.
 */
export function buildWorkerSpec(
  options: ResolvedOptions,
  who: { slot: number; generation: number },
  config: Versioned,
  peersReady: number,
  context: { health: RotaHealth; logColor: boolean },
): WorkerSpec {
  const { app, port, hostname, initTimeout, initWait, gracefulTimeout, logFormat, maxMemory, workers } = options;
  return {
    app,
    slot: who.slot,
    generation: who.generation,
    port,
    hostname,
    initTimeout,
    initWait,
    gracefulTimeout,
    logFormat,
    maxRequests: stagger(options.maxRequests, options.maxRequestsJitter, who.slot, workers),
    maxMemory,
    config,
    peersReady,
    heartbeatInterval: heartbeatInterval(options.watchdogTimeout),
    requestTimeout: options.requestTimeout,
    maxBody: options.maxBody,
    healthPrefix: options.healthPrefix === "off" ? "" : options.healthPrefix,
    health: context.health,
    accessLog: options.accessLog,
    logColor: context.logColor,
  };
}
