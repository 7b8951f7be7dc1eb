/**
 * Log lines: `pretty` for a person at a terminal, `json` (one object a line)
 * for a collector. The sink is the host's standard error.
 *
 * @module
 */

/** How serious a line is. */
export type Level = "info" | "warn" | "error";

/** Writes log lines with fixed context (who is speaking). */
export interface Logger {
  /** Routine events. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something is wrong but rota carries on. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something failed. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Line format. @default {"json"} */
  format?: "pretty" | "json";
  /** Who is speaking, e.g. `supervisor` or `worker 0`. */
  name: string;
  /** Fields added to every line. @default {{}} */
  fields?: Record<string, unknown>;
  /** Where lines go. */
  write: (line: string) => void;
  /** Source of timestamps. @default {() => new Date()} */
  date?: () => Date;
}

/**
 * Create a logger.
 *
 * @param options Format, name and sink.
 * @returns The logger.
 * @example
 * ```ts
 * const log = createLogger({ name: "supervisor", write: console.error });
 * log.info("ready", { workers: 4 });
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const { format = "json", name, fields = {}, write, date = () => new Date() } = options;
  const line = (level: Level, message: string, extra: Record<string, unknown> = {}) => {
    if (format === "json") {
      write(JSON.stringify({ time: date().toISOString(), level, name, msg: message, ...fields, ...extra }));
      return;
    }
    // One event, one line: a value with a line break (a stack, an app's error text) is written escaped.
    const details = Object.entries(extra).map(([k, v]) =>
      `${k}=${typeof v === "string" && !v.includes("\n") ? v : JSON.stringify(v)}`
    );
    const tag = level === "info" ? "" : `${level.toUpperCase()} `;
    const text = message.includes("\n") ? JSON.stringify(message).slice(1, -1) : message;
    write(`rota[${name}] ${tag}${text}${details.length ? ` (${details.join(" ")})` : ""}`);
  };
  return {
    info: (message, extra) => line("info", message, extra),
    warn: (message, extra) => line("warn", message, extra),
    error: (message, extra) => line("error", message, extra),
  };
}
