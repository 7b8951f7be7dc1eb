// @ts-check
/**
 * Build what the npm package ships: `dist/mod.js` (the library),
 * `dist/main.js` (the `rota` program, also what a worker runs) and
 * `dist/ts_hooks.js` (Node's TypeScript loader, see adapters/_node/typescript.ts),
 * sharing their code through chunks so that an app importing "rota" and the
 * program running it hold one copy of every module (`instanceof RotaError`
 * holds across them). Plus `dist/types/`, the declarations.
 *
 * Plain JavaScript on purpose: `npm run build` runs on any Node ≥ 20, which
 * cannot run TypeScript by itself.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import process from "node:process";
import { build } from "esbuild";

const versions = {
  "package.json": JSON.parse(readFileSync("package.json", "utf8")).version,
  "deno.json": JSON.parse(readFileSync("deno.json", "utf8")).version,
  "runtime/version.ts": /VERSION = "([^"]+)"/.exec(readFileSync("runtime/version.ts", "utf8"))?.[1],
};
if (new Set(Object.values(versions)).size !== 1) {
  const said = Object.entries(versions).map(([file, version]) => `${file} says ${version}`).join(", ");
  console.error(`build: ${said}; make them equal`);
  process.exit(1);
}

rmSync("dist", { recursive: true, force: true });
const result = await build({
  entryPoints: [
    { in: "mod.ts", out: "mod" },
    { in: "main.ts", out: "main" },
    { in: "adapters/_node/ts_hooks.ts", out: "ts_hooks" },
  ],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  // node20 alone: a target list with deno2 turned import(url) into require().
  target: "node20",
  packages: "external",
  logLevel: "warning",
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
const files = Object.keys(result.metafile.outputs).length;

// The declarations, with TypeScript's own compiler (resolved, not from PATH).
const typescript = dirname(createRequire(import.meta.url).resolve("typescript/package.json"));
const tsc = join(typescript, "bin", "tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" });
} catch {
  console.error("build: the declarations did not compile (tsc's errors above)");
  process.exit(1);
}
console.log(`built dist/ (${files} files, ${(bytes / 1024).toFixed(1)} KiB of JS) and dist/types/`);
