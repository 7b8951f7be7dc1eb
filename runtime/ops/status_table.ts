/**
 * `rota status`: a snapshot as a table for a terminal, like `pm2 ls`.
 *
 * @module
 */

import type { RotaSnapshot } from "./snapshot.ts";
import { workerName } from "./snapshot.ts";

/**
 * A duration for people: `45s`, `12m`, `3h`, `2d`.
 *
 * @param ms Milliseconds; negative counts as 0.
 * @returns The largest whole unit.
 */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * A size in bytes for people, in binary units as `ps` and PM2 count.
 *
 * @param bytes The size, or `undefined` when unknown.
 * @returns E.g. `48.2 MiB`, or `-`.
 */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The table: one summary line, then one row per worker, oldest slot first,
 * columns aligned. Exited workers are left out.
 *
 * @param snapshot What the supervisor reported.
 * @returns Lines ending with a line break.
 * @example
 * ```ts
 * host.writeOut(formatStatusTable(await control.call({ command: "status" }).snapshot));
 * ```
 */
export function formatStatusTable(snapshot: RotaSnapshot): string {
  const { counters } = snapshot;
  const readiness = snapshot.phase === "stopping" ? "stopping" : snapshot.ready ? "ready" : "not ready";
  const summary =
    `rota ${snapshot.version} on ${snapshot.runtime}, pid ${snapshot.pid}, http://${snapshot.hostname}:${snapshot.port}` +
    `, up ${formatUptime(snapshot.time - snapshot.startedAt)}, ${readiness}, config v${snapshot.configVersion}` +
    `, ${counters.crashes} crash${counters.crashes === 1 ? "" : "es"}, ${counters.replacements} replaced`;
  const header = ["worker", "pid", "state", "role", "uptime", "requests", "in flight", "memory", "restarts", "init"];
  const rows = snapshot.workers
    .filter((worker) => worker.state !== "exited")
    .toSorted((a, b) => a.slot - b.slot || a.generation - b.generation)
    .map((worker) => [
      workerName(worker),
      String(worker.pid),
      worker.state,
      worker.role,
      formatUptime(snapshot.time - worker.startedAt),
      String(worker.requests),
      String(worker.inFlight),
      formatBytes(worker.rss),
      String(worker.restarts),
      String(worker.initAttempts),
    ]);
  const numeric = new Set([1, 4, 5, 6, 7, 8, 9]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join("  ").trimEnd();
  const body = rows.length === 0 ? ["(no workers)"] : rows.map(line);
  return `${[summary, line(header), ...body].join("\n")}\n`;
}
