/**
 * TypeScript apps on a Node that cannot strip types by itself (Node 20, and
 * 22 before 22.18 without `--experimental-strip-types`): rota registers a
 * module loader (`ts_hooks.ts`) that transpiles `.ts` and `.mts` files with
 * esbuild, an optional dependency found in the app's `node_modules`. A Node
 * that strips types (`process.features.typescript`) imports them itself.
 * Used by the Node adapter only: Bun and Deno run TypeScript natively.
 *
 * @module
 */

import { createRequire, register } from "node:module";
import process from "node:process";

const TYPESCRIPT = /\.m?ts$/;

let registered: Promise<void> | undefined;

/**
 * Whether this Node runs TypeScript by itself.
 *
 * @returns True where `process.features.typescript` is set (Node ≥ 22.18, or with the flag).
 */
export function stripsTypes(): boolean {
  return Boolean((process.features as { typescript?: unknown }).typescript);
}

function hooksUrl(): URL {
  // Beside this file in the sources; beside the bundle's chunks in dist/.
  return new URL(import.meta.url.endsWith(".ts") ? "./ts_hooks.ts" : "./ts_hooks.js", import.meta.url);
}

/**
 * Make sure the module at `url` can be imported: for a TypeScript file on a
 * Node that cannot strip types, register the esbuild loader (once).
 *
 * @param url The module about to be imported.
 * @returns Once the loader is in place (or not needed).
 * @throws {Error} A one-line hint when esbuild is not installed.
 */
export function prepareTypeScript(url: URL): Promise<void> {
  if (url.protocol !== "file:" || !TYPESCRIPT.test(url.pathname) || stripsTypes()) return Promise.resolve();
  return registered ??= Promise.resolve().then(() => {
    try {
      createRequire(import.meta.url).resolve("esbuild");
    } catch {
      registered = undefined;
      throw new Error(
        `Node ${process.version} cannot run TypeScript by itself: install esbuild (npm install --save-dev esbuild) and rota transpiles the app with it, or use Node 22.18 or later`,
      );
    }
    register(hooksUrl().href, import.meta.url);
    // Stack traces then point at the .ts lines, through esbuild's inline source maps.
    process.setSourceMapsEnabled(true);
  });
}
