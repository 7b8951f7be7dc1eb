/**
 * Linux's `net.ipv4.tcp_migrate_req`: with it at 1, closing one of several
 * `SO_REUSEPORT` listeners hands the connections queued on it to a sibling
 * instead of resetting them. Bun's workers and Deno's `Deno.serve` workers
 * each listen on a socket of their own, so their drains lose nothing only
 * with it. It is per network namespace, and writable as root there.
 *
 * @module
 */

import { readFileSync, writeFileSync } from "node:fs";

const MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req";

/**
 * Make sure queued connections survive a draining worker's listener closing.
 *
 * @param file The sysctl's file (injectable for tests).
 * @returns Warnings for the log.
 */
export function ensureConnectionMigration(file: string = MIGRATE): string[] {
  let current: string;
  try {
    current = readFileSync(file, "utf8").trim();
  } catch {
    return ["cannot read net.ipv4.tcp_migrate_req: a draining worker may reset connections queued on its socket"];
  }
  if (current === "1") return [];
  try {
    writeFileSync(file, "1");
    return [];
  } catch {
    return [
      "net.ipv4.tcp_migrate_req is not 1 and rota cannot set it (needs root in this network namespace): a draining worker may reset connections queued on its socket; run 'sysctl -w net.ipv4.tcp_migrate_req=1' to lose none",
    ];
  }
}
