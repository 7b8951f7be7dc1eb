/**
 * Linux's `net.ipv4.tcp_migrate_req`: with it at 1, closing one of several
 * `SO_REUSEPORT` listeners hands the connections queued on it to a sibling
 * instead of resetting them. Bun's workers and Deno's `Deno.serve` workers
 * each listen on a socket of their own, so their drains lose nothing only
 * with it. It is per network namespace, and writable as root there.
 *
 * @module
 */

/** How the sysctl's file is read and written (each adapter passes its runtime's synchronous file API). */
export interface SysctlFiles {
  read(path: string): string;
  write(path: string, text: string): void;
}

const MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req";

/** Where the sysctl stands once rota tried to turn it on. */
export type ConnectionMigration = "on" | "unreadable" | "unsettable";

/** What stands in the way, by state, for the log. */
export const MIGRATION_PROBLEMS: Record<Exclude<ConnectionMigration, "on">, string> = {
  unreadable: "net.ipv4.tcp_migrate_req cannot be read",
  unsettable: "net.ipv4.tcp_migrate_req is not 1 and rota cannot set it (needs root in this network namespace)",
};

/**
 * Make sure queued connections survive a draining worker's listener closing:
 * turn the sysctl on where it is off and rota may write it.
 *
 * @param files The runtime's file API.
 * @param file The sysctl's file (another for tests).
 * @returns Where it stands.
 */
export function ensureConnectionMigration(files: SysctlFiles, file: string = MIGRATE): ConnectionMigration {
  let current: string;
  try {
    current = files.read(file).trim();
  } catch {
    return "unreadable";
  }
  if (current === "1") return "on";
  try {
    files.write(file, "1");
    return "on";
  } catch {
    return "unsettable";
  }
}

/**
 * The startup warnings of a rota whose workers each listen on their own socket.
 *
 * @param migration Where the sysctl stands.
 * @returns None when it is on.
 */
export function migrationWarnings(migration: ConnectionMigration): string[] {
  if (migration === "on") return [];
  return [
    `${
      MIGRATION_PROBLEMS[migration]
    }: a draining worker may reset connections queued on its socket; run 'sysctl -w net.ipv4.tcp_migrate_req=1' as root to lose none`,
  ];
}
