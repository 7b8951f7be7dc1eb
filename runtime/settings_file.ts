/**
 * rota's own settings file (`rota.config.json`, or the file `--config`
 * names): the options of `rota serve` by their `serve()` names, like
 * gunicorn's `gunicorn.conf.py` or PM2's ecosystem file. Checking the values
 * is `resolveOptions`'s job; this only reads and parses.
 *
 * @module
 */

import { RotaError } from "./errors.ts";
import { parseJsonText } from "./json_text.ts";
import type { Settings } from "./options.ts";

/**
 * Parse a settings file's text.
 *
 * @param text The file's content.
 * @param path The file, for messages.
 * @returns Its settings.
 * @throws {RotaError} `ERR_ROTA_USAGE` when it is not JSON (naming line and
 * column) or not a JSON object.
 * @example
 * ```ts
 * parseSettings('{ "workers": 4 }', "rota.config.json"); // { path: "rota.config.json", values: { workers: 4 } }
 * ```
 */
export function parseSettings(text: string, path: string): Settings {
  let values: unknown;
  try {
    values = parseJsonText(text);
  } catch (error) {
    throw new RotaError("ERR_ROTA_USAGE", `Cannot read settings file '${path}': ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new RotaError(
      "ERR_ROTA_USAGE",
      `Cannot read settings file '${path}': it must hold a JSON object such as { "workers": 4 }`,
    );
  }
  return { path, values: values as Record<string, unknown> };
}

/**
 * Read the settings file, if any.
 *
 * @param read Reads a text file (relative paths from the working directory).
 * @param file Which file, and whether someone named it.
 * @returns The settings, or `undefined` when no file was named and the default one does not exist.
 * @throws {RotaError} `ERR_ROTA_USAGE` when a named file is missing, or any file cannot be read or parsed.
 * @example
 * ```ts
 * const settings = await readSettings(host.readTextFile, { path: "rota.config.json", named: false });
 * ```
 */
export async function readSettings(
  read: (path: string) => Promise<string>,
  file: { readonly path: string; readonly named: boolean },
): Promise<Settings | undefined> {
  let text: string;
  try {
    text = await read(file.path);
  } catch (error) {
    const missing = (error as { code?: string }).code === "ENOENT";
    if (missing && !file.named) return undefined;
    throw new RotaError(
      "ERR_ROTA_USAGE",
      `Cannot read settings file '${file.path}': ${missing ? "no such file" : (error as Error).message}`,
      { cause: error },
    );
  }
  return parseSettings(text, file.path);
}
