/**
 * A realistic snapshot for tests of what reads one (metrics, tables, pages).
 */

import { createHistogram, INIT_SECONDS_BOUNDS, observe, REQUEST_SECONDS_BOUNDS } from "../runtime/ops/histogram.ts";
import type { RotaSnapshot, WorkerSnapshot } from "../runtime/ops/snapshot.ts";

/** 2026-11-25T12:00:00Z: a fixed "now" for tests. */
export const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

/** A worker that has been ready for a minute, with overrides. */
export function worker(overrides: Partial<WorkerSnapshot> = {}): WorkerSnapshot {
  return {
    slot: 0,
    generation: 0,
    pid: 1000,
    state: "ready",
    role: "active",
    startedAt: NOW - 60_000,
    readyAt: NOW - 59_000,
    requests: 0,
    inFlight: 0,
    initAttempts: 1,
    restarts: 0,
    ...overrides,
  };
}

/** A running two-worker rota, with overrides. */
export function snapshot(overrides: Partial<RotaSnapshot> = {}): RotaSnapshot {
  const requestSeconds = createHistogram(REQUEST_SECONDS_BOUNDS);
  for (const seconds of [0.001, 0.002, 0.03, 0.3, 20]) observe(requestSeconds, seconds);
  const initSeconds = createHistogram(INIT_SECONDS_BOUNDS);
  for (const seconds of [1.2, 0.4, 0.05]) observe(initSeconds, seconds);
  return {
    time: NOW,
    runtime: "node",
    pid: 999,
    startedAt: NOW - 120_000,
    version: "0.1.0",
    phase: "running",
    ready: true,
    app: "/srv/app.js",
    port: 8000,
    hostname: "127.0.0.1",
    workers: [
      worker({
        slot: 0,
        generation: 2,
        pid: 1001,
        requests: 1234,
        inFlight: 2,
        rss: 52_428_800,
        heapUsed: 9_000_000,
        eventLoopLagSeconds: 0.0012,
      }),
      worker({
        slot: 1,
        generation: 0,
        pid: 1002,
        state: "failing",
        requests: 7,
        initAttempts: 3,
        restarts: 1,
        readyAt: undefined,
      }),
    ],
    configVersion: 4,
    counters: {
      replacements: 2,
      crashes: 1,
      restarts: 1,
      watchdogKills: 0,
      noWorkerReadyMs: 1500,
      recycles: { "max-requests": 2, reload: 1 },
      initAttempts: { ok: 2, failed: 2 },
    },
    histograms: { requestSeconds, initSeconds },
    events: [],
    ...overrides,
  };
}
