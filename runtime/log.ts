/**
 * Log lines: `json` (one object a line, for a collector) or `pretty` (for a
 * person at a terminal, in colour unless `NO_COLOR` is set). Every line
 * carries its time, level, event, slot and pid. The sink is the host's
 * standard error.
 *
 * @module
 */

/** How serious a line is. */
export type Level = "info" | "warn" | "error";

/**
 * Extra fields of one line. `event` is the line's short, stable event name
 * (`worker.ready`, `config.published`): collectors match on it, not on the
 * message text. Values that are `Error`s are written with their stack in
 * JSON and as their message in pretty lines.
 */
export type LogFields = Record<string, unknown> & { event?: string };

/** Writes log lines with fixed context (who is speaking). */
export interface Logger {
  /** Routine events. */
  info(message: string, fields?: LogFields): void;
  /** Something is wrong but rota carries on. */
  warn(message: string, fields?: LogFields): void;
  /** Something failed. */
  error(message: string, fields?: LogFields): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Line format. @default {"json"} */
  format?: "pretty" | "json";
  /** Who is speaking, e.g. `supervisor` or `worker 0.3`. */
  name: string;
  /** The speaker's process id, on every line. @default {fields.pid, else null} */
  pid?: number;
  /** The speaker's slot, on every line; `null` for the supervisor. @default {fields.slot, else null} */
  slot?: number | null;
  /** Fields added to every line. @default {{}} */
  fields?: Record<string, unknown>;
  /** Colour pretty lines with ANSI escapes (see {@linkcode wantsColor}). @default {false} */
  color?: boolean;
  /** Where lines go. */
  write: (line: string) => void;
  /** Source of timestamps. @default {() => new Date()} */
  date?: () => Date;
}

/** Keys a line's fields cannot replace. */
const FIXED = new Set(["time", "level", "event", "name", "msg"]);

/** The event of a line whose caller named none. */
export const DEFAULT_EVENT = "log";

/**
 * Whether pretty lines should be coloured: on a terminal, unless `NO_COLOR`
 * is set to anything but the empty string (no-color.org); `FORCE_COLOR`
 * (not `0`) forces it.
 *
 * @param isTerminal Whether standard error is a terminal.
 * @param env The environment.
 * @returns True to colour.
 * @example
 * ```ts
 * createLogger({ format: "pretty", color: wantsColor(host.isTerminal(), host.env()), name: "supervisor", write });
 * ```
 */
export function wantsColor(isTerminal: boolean, env: Record<string, string | undefined>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return isTerminal;
}

const ANSI = {
  dim: "\x1b[2m",
  cyan: "\x1b[36m",
  green: "\x1b[32m",
  yellow: "\x1b[33m",
  red: "\x1b[31m",
  bold: "\x1b[1m",
  reset: "\x1b[0m",
} as const;

const LEVEL_COLOR: Record<Level, string> = { info: ANSI.green, warn: ANSI.yellow, error: ANSI.red + ANSI.bold };

function jsonValue(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as { code?: unknown }).code;
  return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }), stack: value.stack };
}

/** A field's value in a pretty line, which stays one line: text with a line break is quoted. */
/** One event, one line: a message with a line break (a stack, an app's error text) is written escaped. */
function oneLine(message: string): string {
  return /[\r\n]/.test(message) ? JSON.stringify(message).slice(1, -1) : message;
}

function prettyValue(value: unknown): string {
  const text = value instanceof Error ? value.message : value;
  if (typeof text === "string") return /[\r\n]/.test(text) ? JSON.stringify(text) : text;
  return JSON.stringify(text);
}

/**
 * Create a logger.
 *
 * @param options Format, name and sink.
 * @returns The logger.
 * @example
 * ```ts
 * const log = createLogger({ name: "supervisor", pid: 42, write: console.error });
 * log.info("2 of 2 workers ready", { event: "rota.ready", workers: 2 });
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const { format = "json", name, fields = {}, color = false, write, date = () => new Date() } = options;
  const pid = options.pid ?? (typeof fields.pid === "number" ? fields.pid : null);
  const slot = options.slot !== undefined ? options.slot : typeof fields.slot === "number" ? fields.slot : null;
  const paint = (code: string, text: string) => (color ? `${code}${text}${ANSI.reset}` : text);
  const line = (level: Level, message: string, extra: LogFields = {}) => {
    const { event = DEFAULT_EVENT, ...rest } = extra;
    const time = date();
    if (format === "json") {
      const record: Record<string, unknown> = { time: time.toISOString(), level, event, slot, pid, name, msg: message };
      for (const [key, value] of Object.entries(fields)) {
        if (!(key in record) && value !== undefined) record[key] = jsonValue(value);
      }
      // A line's own fields win over the context, as they always have (`{ pid: child.pid }`).
      for (const [key, value] of Object.entries(rest)) {
        if (!FIXED.has(key) && value !== undefined) record[key] = jsonValue(value);
      }
      write(JSON.stringify(record));
      return;
    }
    const details = Object.entries(rest)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${prettyValue(value)}`);
    const who = `rota[${name}${pid === null ? "" : ` #${pid}`}]`;
    const tag = event === DEFAULT_EVENT ? "" : ` ${paint(ANSI.dim, event)}`;
    write(
      `${paint(ANSI.dim, time.toISOString().slice(11, 23))} ${
        paint(LEVEL_COLOR[level], level.toUpperCase().padEnd(5))
      } ${paint(ANSI.cyan, who)} ${oneLine(message)}${details.length ? ` (${details.join(" ")})` : ""}${tag}`,
    );
  };
  return {
    info: (message, extra) => line("info", message, extra),
    warn: (message, extra) => line("warn", message, extra),
    error: (message, extra) => line("error", message, extra),
  };
}
