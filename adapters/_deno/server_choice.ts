/**
 * Which server Deno workers serve on, chosen once by the supervisor before
 * any worker starts: `Deno.serve` on a socket of each worker's own when
 * everything it takes is there (see `serve.ts`), else `node:http` on the
 * supervisor's socket.
 *
 * @module
 */

import { describeError } from "../../runtime/errors.ts";
import { type ConnectionMigration, MIGRATION_PROBLEMS } from "../_linux/connection_migration.ts";
import { openLibc } from "./libc.ts";

/** The parts of the `Deno` global this file uses. */
interface DenoApi {
  listenDatagram?: unknown;
  permissions: { querySync(descriptor: { name: string }): { state: string } };
}

const deno = (): DenoApi => (globalThis as unknown as { Deno: DenoApi }).Deno;

/** The reason {@linkcode nativeServing} gives when Deno was not asked for it (no `--unstable-net`). */
export const NOT_ASKED = "Deno runs without --unstable-net";

/**
 * Whether Deno workers can serve on `Deno.serve` without losing a connection
 * at a drain, and if not, why.
 *
 * @param ensureMigration Turns `tcp_migrate_req` on where it can; asked last, so that the sysctl is not changed
 * when something else is missing.
 * @returns `undefined` when they can, else the reason, for the log ({@linkcode NOT_ASKED} without the flag).
 */
export function nativeServing(ensureMigration: () => ConnectionMigration): string | undefined {
  if (typeof deno().listenDatagram !== "function") return NOT_ASKED;
  if (deno().permissions.querySync({ name: "ffi" }).state !== "granted") return "Deno lacks --allow-ffi";
  try {
    openLibc();
  } catch (error) {
    return `libc's shutdown() cannot be loaded (${describeError(error)})`;
  }
  const migration = ensureMigration();
  return migration === "on" ? undefined : MIGRATION_PROBLEMS[migration];
}
