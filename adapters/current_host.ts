/**
 * The edge: the one place that looks at which runtime this is, and loads
 * that runtime's adapter (and only that one: Deno never loads Bun's, and no
 * runtime loads `@hono/node-server` before a worker listens). Everything
 * behind it takes a `Host`.
 *
 * @module
 */

import { describeError } from "../runtime/errors.ts";
import type { Host } from "../runtime/host.ts";

/**
 * The host for the runtime this code runs on. Deno first, then Bun: both
 * also report a Node version.
 *
 * @returns The adapter's host, loaded on first use.
 */
export async function currentHost(): Promise<Host> {
  if ("Deno" in globalThis) return await (await import("./deno.ts")).loadDenoHost();
  if ("Bun" in globalThis) return (await import("./bun.ts")).host;
  return (await import("./node.ts")).host;
}

/**
 * End a program that failed: `rota: <what went wrong>` on one line, through
 * the host's log when it loaded (else standard error), and exit code 1.
 *
 * @param error What went wrong.
 * @param host The host, when it loaded.
 */
export function exitOnFailure(error: unknown, host: Host | undefined): never {
  const line = `rota: ${describeError(error)}`;
  if (host) {
    host.writeLog(line);
    return host.exit(1);
  }
  console.error(line);
  const global = globalThis as unknown as { Deno?: Exits; process?: Exits };
  return (global.Deno ?? global.process)!.exit(1);
}

interface Exits {
  exit(code: number): never;
}
