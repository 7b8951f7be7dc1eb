/**
 * Access log lines in the NCSA Common Log Format (Apache's `common`, the
 * default of most log tools) or its `combined` variant with referrer and user
 * agent, the default of gunicorn and nginx.
 *
 * @module
 */

/** What one access log line describes. */
export interface AccessRecord {
  /** The request as the app saw it (method, URL, headers). */
  readonly request: Request;
  /** The status sent. */
  readonly status: number;
  /** Body bytes sent, when known; else the `Content-Length` of `headers`. */
  readonly bytes?: number;
  /** The response headers, for `Content-Length`. */
  readonly headers?: Headers;
  /** The client's address, when the runtime tells it. */
  readonly remoteAddress?: string;
  /** When the request arrived (epoch ms). */
  readonly start: number;
  /** How long it took to answer, in milliseconds. */
  readonly durationMs: number;
  /** The HTTP version, which a Web `Request` does not carry. @default {"HTTP/1.1"} */
  readonly protocol?: string;
}

/** Options for {@linkcode formatAccessLog}. */
export interface AccessLogOptions {
  /** `common`: `host ident user [time] "request" status bytes`; `combined` adds `"referer" "user-agent"`. @default {"common"} */
  format?: "common" | "combined";
  /** Append the time taken in seconds with microsecond precision (nginx's `$request_time`, Apache's `%D`/1e6). @default {false} */
  duration?: boolean;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const two = (n: number) => String(n).padStart(2, "0");

/** `[10/Oct/2000:13:55:36 +0000]`, in UTC so that a line never depends on the machine's zone. */
function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `[${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${
    two(d.getUTCMinutes())
  }:${two(d.getUTCSeconds())} +0000]`;
}

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Quote-safe text: `"` and `\` escaped, control and non-ASCII bytes as `\xHH` (as Apache does). */
function escape(text: string): string {
  // The common case, printable ASCII with nothing to escape, costs one test (this runs per request).
  if (PLAIN.test(text)) return text;
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += "\\\\";
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}

/** A field that must not contain spaces; `-` when empty. */
function token(text: string | undefined | null): string {
  if (text === undefined || text === null || text === "") return "-";
  return escape(text).replace(/ /g, "\\x20");
}

/**
 * One access log line, without a line break.
 *
 * @param record The request, the answer and its timing.
 * @param options The format.
 * @returns The line.
 * @example
 * ```ts
 * formatAccessLog({ request, status: 200, bytes: 12, remoteAddress: "127.0.0.1", start, durationMs: 3 });
 * // 127.0.0.1 - - [25/Nov/2026:12:00:00 +0000] "GET /x?y=1 HTTP/1.1" 200 12
 * ```
 */
export function formatAccessLog(record: AccessRecord, options: AccessLogOptions = {}): string {
  const { format = "common", duration = false } = options;
  const { request, status, remoteAddress, start, durationMs, protocol = "HTTP/1.1" } = record;
  const url = new URL(request.url);
  const target = `${url.pathname}${url.search}`;
  const length = record.bytes ?? Number(record.headers?.get("content-length") ?? NaN);
  const bytes = Number.isFinite(length) && length > 0 ? String(length) : "-";
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  let line = `${token(remoteAddress)} - ${token(user)} ${clfTime(start)} "${
    escape(`${request.method} ${target} ${protocol}`)
  }" ${status} ${bytes}`;
  if (format === "combined") {
    line += ` "${escape(request.headers.get("referer") ?? "-")}" "${escape(request.headers.get("user-agent") ?? "-")}"`;
  }
  if (duration) line += ` ${(Math.max(0, durationMs) / 1000).toFixed(6)}`;
  return line;
}
