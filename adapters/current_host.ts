/**
 * The edge: the one place that looks at which runtime this is, and loads
 * that runtime's adapter (and only that one: Deno never loads Bun's, and no
 * runtime loads `@hono/node-server` before a worker listens). Everything
 * behind it takes a `Host`.
 *
 * @module
 */

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
 * Print `line` and exit 1, for a program whose host could not even load.
 *
 * @param line What went wrong, on one line.
 */
export function exitWithoutHost(line: string): never {
  console.error(line);
  const global = globalThis as unknown as { Deno?: Exits; process?: Exits };
  return (global.Deno ?? global.process)!.exit(1);
}

interface Exits {
  exit(code: number): never;
}
