/**
 * The `--config` file: the one place that reads, parses, writes back and
 * watches the file holding the shared configuration. The file holds the value
 * only (pretty JSON), so people can keep editing it by hand.
 *
 * @module
 */

import { describeError, RotaError } from "../errors.ts";
import type { SupervisorHost } from "../host.ts";
import { parseJsonText } from "../json_text.ts";

/**
 * The largest configuration, as JSON. It is settings, not data: each worker
 * receives it in its environment when it is spawned, where Linux allows
 * 128 KiB for one variable.
 */
export const MAX_CONFIG_BYTES = 64 * 1024;

/**
 * Check that a configuration's JSON text is small enough to hand to a worker.
 *
 * @param text The JSON text.
 * @param what How to name it in the error.
 * @throws {RotaError} `ERR_ROTA_CONFIG` when it is larger than {@linkcode MAX_CONFIG_BYTES}.
 */
export function checkConfigSize(text: string, what: string): void {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new RotaError(
      "ERR_ROTA_CONFIG",
      `Cannot use ${what} as it is ${text.length} bytes of JSON: the limit is ${MAX_CONFIG_BYTES}`,
    );
  }
}

/**
 * Serialise a value as the file holds it.
 *
 * @param value A JSON value.
 * @returns Pretty JSON with a final newline.
 * @example
 * ```ts
 * formatConfig({ a: 1 }); // '{\n  "a": 1\n}\n'
 * ```
 */
export function formatConfig(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Parse a configuration file's text.
 *
 * @param text The file's content.
 * @param path Its path, for the error.
 * @returns The value.
 * @throws {RotaError} `ERR_ROTA_CONFIG` when it is not JSON, or too large.
 * @example
 * ```ts
 * parseConfig('{"a": 1}', "settings.json"); // { a: 1 }
 * ```
 */
export function parseConfig(text: string, path: string): unknown {
  checkConfigSize(text, `configuration file '${path}'`);
  try {
    return parseJsonText(text);
  } catch (error) {
    throw new RotaError("ERR_ROTA_CONFIG", `Cannot read configuration file '${path}': ${describeError(error)}`, {
      cause: error,
    });
  }
}

/** The file capabilities a {@linkcode ConfigFile} uses. */
export type ConfigFileHost = Pick<SupervisorHost, "readTextFile" | "writeTextFileAtomic" | "watchFile">;

/** The shared configuration's file. */
export class ConfigFile {
  /** The path, as given. */
  readonly path: string;
  #host: ConfigFileHost;

  /**
   * @param host File capabilities.
   * @param path The file.
   */
  constructor(host: ConfigFileHost, path: string) {
    this.#host = host;
    this.path = path;
  }

  /**
   * Read and parse the file.
   *
   * @returns The value.
   * @throws {RotaError} `ERR_ROTA_CONFIG` when it is missing, unreadable, not JSON, or too large.
   */
  async read(): Promise<unknown> {
    let text: string;
    try {
      text = await this.#host.readTextFile(this.path);
    } catch (error) {
      const why = (error as { code?: string }).code === "ENOENT" ? "no such file" : describeError(error);
      throw new RotaError("ERR_ROTA_CONFIG", `Cannot read configuration file '${this.path}': ${why}`, {
        cause: error,
      });
    }
    return parseConfig(text, this.path);
  }

  /**
   * Replace the file's content with `value`, atomically.
   *
   * @param value The new value.
   * @returns When it is on disk.
   * @throws {RotaError} `ERR_ROTA_CONFIG` when it cannot be written; the file is then as it was.
   */
  async write(value: unknown): Promise<void> {
    try {
      await this.#host.writeTextFileAtomic(this.path, formatConfig(value));
    } catch (error) {
      throw new RotaError(
        "ERR_ROTA_CONFIG",
        `Cannot write configuration file '${this.path}': ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  /**
   * Call `onChange` when the file may have changed.
   *
   * @param onChange Called after each change seen.
   * @returns The teardown.
   */
  watch(onChange: () => void): () => void {
    return this.#host.watchFile(this.path, onChange);
  }
}
