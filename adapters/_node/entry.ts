/**
 * The module a worker process runs: rota's own entry (`mod.ts` from sources,
 * `dist/rota.js` from the bundle), which turns itself into a worker when it
 * finds a spec in its environment.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/**
 * The path of rota's entry module.
 *
 * @returns An absolute file path.
 */
export function entryPath(): string {
  const here = import.meta.url;
  // In the bundle every module shares the bundle's URL, and the bundle is the entry.
  const entry = here.endsWith("/adapters/_node/entry.ts") ? new URL("../../mod.ts", here) : new URL(here);
  return fileURLToPath(entry);
}
