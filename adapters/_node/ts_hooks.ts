/**
 * Node module hooks (`module.register`) that transpile `.ts` and `.mts` files
 * with esbuild, for a Node that cannot strip types by itself. Registered by
 * `typescript.ts` only when an app needs it; a build entry of its own
 * (`dist/ts_hooks.js`), since Node loads it on its hooks thread.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

const TYPESCRIPT = /\.m?ts$/;

/** What Node hands the `load` hook and expects back (the parts used here). */
interface LoadResult {
  format?: string;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}

/** One esbuild message (the parts used here). */
interface EsbuildMessage {
  text: string;
  location: { line: number; column: number } | null;
}

/**
 * Node's `load` hook: TypeScript files come back as JavaScript modules.
 *
 * @param url The module's URL.
 * @param context Node's load context.
 * @param nextLoad The next hook in the chain.
 * @returns The module's source and format.
 * @throws {SyntaxError} Naming the file, line and column (`at file:…:line:column`) when esbuild cannot parse it.
 */
export async function load(
  url: string,
  context: unknown,
  nextLoad: (url: string, context: unknown) => Promise<LoadResult>,
): Promise<LoadResult> {
  if (!url.startsWith("file:") || !TYPESCRIPT.test(new URL(url).pathname)) return await nextLoad(url, context);
  const path = fileURLToPath(url);
  const source = await readFile(path, "utf8");
  try {
    const { code } = await transform(source, {
      loader: "ts",
      format: "esm",
      target: "node20",
      sourcemap: "inline",
      sourcefile: path,
    });
    return { format: "module", source: code, shortCircuit: true };
  } catch (error) {
    const [first] = (error as { errors?: EsbuildMessage[] }).errors ?? [];
    if (!first) throw error;
    const where = first.location ? `\n    at ${url}:${first.location.line}:${first.location.column + 1}` : "";
    throw new SyntaxError(`${first.text}${where}`);
  }
}
