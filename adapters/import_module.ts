/**
 * Importing the app module, the same on every runtime: a missing file is
 * `ERR_ROTA_APP_NOT_FOUND`, anything the import throws `ERR_ROTA_APP_IMPORT`
 * naming the file and line of a syntax error. How a specifier becomes a URL
 * and whether its file exists is the adapter's ({@linkcode ModuleFiles}); this
 * module imports nothing of any runtime, so that a Deno worker that never
 * loads Node's compatibility layer uses it too.
 *
 * @module
 */

import { RotaError } from "../runtime/errors.ts";
import { describeImportFailure, errorLocation, firstError, isSyntaxError } from "../runtime/import_error.ts";

/** How a runtime finds an app module's file. */
export interface ModuleFiles {
  /** A path (relative to the working directory) or URL, as a URL. */
  toUrl(specifier: string): URL;
  /** Whether a `file:` URL names an existing file. */
  exists(url: URL): boolean;
  /** A `file:` URL's path, for messages. */
  path(url: URL): string;
}

/** What an adapter adds to importing an app module. */
export interface ImportHooks {
  /** Runs before the import (Node: teach it TypeScript when it cannot strip types itself). */
  prepare?(url: URL): Promise<void>;
  /** Finds where a syntax error is when the runtime's error does not say (Node, for JavaScript). */
  locate?(url: URL): Promise<string | undefined>;
}

/**
 * Import a module by path (relative to the working directory) or URL.
 *
 * @param specifier The module.
 * @param files How this runtime finds its file.
 * @param hooks What the adapter adds.
 * @returns The module's URL and namespace.
 * @throws {RotaError} `ERR_ROTA_APP_NOT_FOUND`, or `ERR_ROTA_APP_IMPORT` naming
 * the file and line of a syntax error.
 */
export async function importAppModule(
  specifier: string,
  files: ModuleFiles,
  hooks: ImportHooks = {},
): Promise<{ url: string; module: unknown }> {
  const url = files.toUrl(specifier);
  if (url.protocol === "file:" && !files.exists(url)) {
    throw new RotaError(
      "ERR_ROTA_APP_NOT_FOUND",
      `Cannot find app module '${specifier}' (looked for ${files.path(url)})`,
    );
  }
  try {
    await hooks.prepare?.(url);
    return { url: url.href, module: await import(url.href) };
  } catch (error) {
    if (error instanceof RotaError) throw error;
    const first = firstError(error);
    const location = errorLocation(first) ??
      (isSyntaxError(first) && hooks.locate ? await hooks.locate(url) : undefined);
    throw new RotaError(
      "ERR_ROTA_APP_IMPORT",
      `Cannot import app module '${specifier}': ${describeImportFailure(error, location)}`,
      { cause: error },
    );
  }
}
