/**
 * The module a worker process runs: rota's program, `main.ts` from the
 * sources or `main.js` beside the bundle's chunks, which turns itself into a
 * worker when it finds a spec in its environment.
 *
 * @module
 */

/**
 * The path of rota's program.
 *
 * @returns An absolute file path.
 */
export function entryPath(): string {
  const here = import.meta.url;
  // In the bundle this code sits in a chunk beside dist/main.js.
  const entry = here.endsWith("/adapters/entry.ts") ? new URL("../main.ts", here) : new URL("./main.js", here);
  // What `fileURLToPath` does on Linux, without `node:url` (Deno's supervisor loads none of Node's modules).
  if (entry.protocol !== "file:") {
    throw new TypeError(`rota's program must be a file to start workers from, not ${entry.href}`);
  }
  return decodeURIComponent(entry.pathname);
}
