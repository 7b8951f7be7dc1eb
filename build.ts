/**
 * Build `dist/rota.js`: one ESM file that runs unchanged under `node`, `bun`
 * and `deno run -A`. `node:` modules and the npm dependencies stay external
 * imports, resolved from `node_modules` by each runtime.
 *
 * Run with `npm run build` (Node 24 from npm strips the types of this file).
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { build } from "esbuild";
import { VERSION } from "./runtime/version.ts";

const { version } = JSON.parse(readFileSync("package.json", "utf8"));
if (version !== VERSION) {
  console.error(`build: package.json says ${version} but runtime/version.ts says ${VERSION}; make them equal`);
  process.exit(1);
}

const result = await build({
  entryPoints: ["mod.ts"],
  outfile: "dist/rota.js",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  banner: { js: "#!/usr/bin/env node" },
  logLevel: "warning",
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
console.log(`built dist/rota.js (${(bytes / 1024).toFixed(1)} KiB)`);
