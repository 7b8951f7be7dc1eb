/**
 * Every option of `rota serve`, its flag, its environment variable, its
 * default and its validation, in one table so the CLI, the environment and
 * `serve()` cannot drift apart.
 *
 * @module
 */

import { RotaError } from "./errors.ts";

/** Options for `serve()` and `rota serve`. Durations are milliseconds. */
export interface ServeOptions {
  /** Path or URL of the application module. */
  app: string;
  /** TCP port. @default {8000} (env `PORT`) */
  port?: number;
  /** Address to bind. @default {"127.0.0.1"} */
  hostname?: string;
  /** How many worker processes. @default {the available parallelism} */
  workers?: number;
  /** How long a draining worker may take to finish its requests. @default {5000} */
  gracefulTimeout?: number;
  /**
   * How long a new worker may take to be up (its app imported and its first
   * init attempt started); a replacement must be *ready* within it, since the
   * old worker serves its slot meanwhile. Killing a worker that is not up, or
   * a replacement that is not ready, loses nothing: neither takes connections.
   * @default {initTimeout + 30000}
   */
  startupTimeout?: number;
  /** How long one `init` attempt may take before its signal aborts. @default {30000} */
  initTimeout?: number;
  /** How long a request waits for a running `init` before it gets 503. @default {10000} */
  initWait?: number;
  /** Log lines for people or for machines. @default {"pretty" on a terminal, "json" otherwise} */
  logFormat?: "pretty" | "json";
  /** Recycle a worker after it answered this many requests; 0 turns it off. @default {0} */
  maxRequests?: number;
  /**
   * Spread of the per-slot stagger added to `maxRequests`: slot `i` of `W`
   * recycles after `maxRequests + round(maxRequestsJitter * i / W)` requests,
   * so no two slots reach their limit together. Deterministic, unlike
   * gunicorn's random jitter, so the spread is guaranteed rather than likely.
   * @default {half of maxRequests}
   */
  maxRequestsJitter?: number;
  /** Recycle a worker this long after it became ready (staggered by up to 10 % per slot); 0 turns it off. @default {0} */
  maxLifetime?: number;
  /**
   * Recycle a worker whose resident memory exceeds this many bytes, measured
   * by the supervisor every second (replacement first); above 1.5 times this
   * (the hard limit) the worker stops taking connections at once and is
   * replaced. On Node and Deno it also sets the worker's V8 heap limit to the
   * hard limit. 0 turns it off. @default {0}
   */
  maxMemory?: number;
  /** How many replacements may be under way at once, across the whole rota. @default {1} */
  maxSurge?: number;
  /**
   * Give up after a slot's worker crashed this many times in a row (without
   * staying ready for 30 s in between): stop everything and exit 1, for
   * systemd or Kubernetes to take over. 0 never gives up. @default {0}
   */
  maxRestarts?: number;
  /**
   * Kill (SIGKILL) and replace a worker whose heartbeat is this late: its
   * event loop is blocked (a spinning handler, a synchronous import) or it
   * was stopped. Workers send a heartbeat every second (every quarter of this
   * when it is under 4 s). 0 turns the watchdog off. @default {30000}
   */
  watchdogTimeout?: number;
  /**
   * Answer 504 to a request whose handler runs longer than this, and abort
   * its `request.signal`; the handler itself cannot be stopped and its late
   * answer is dropped. 0 turns it off. @default {0}
   */
  requestTimeout?: number;
  /** Answer 413 to a request body larger than this many bytes; 0 turns the limit off. @default {10 MiB} */
  maxBody?: number;
  /**
   * The app's shared configuration (`env.config`): a path to a JSON file (read
   * at start, written back on every publish, watched for edits), or from code,
   * the initial value itself (any JSON value but a string). @default {{}}
   */
  appConfig?: string | ConfigValue;
  /**
   * On SIGTERM (or `close()`), keep serving this long with the health path
   * `…/ready` answering 503, so that load balancers stop sending before the
   * workers stop accepting (Kubernetes removes a pod's endpoint at the same
   * moment as it sends SIGTERM); then drain. @default {0}
   */
  shutdownDelay?: number;
  /**
   * Where the app port answers the health paths `<prefix>/ready` and
   * `<prefix>/live` itself, without reaching the app; `off` turns them off.
   * @default {"/_rota"}
   */
  healthPrefix?: string;
  /**
   * Serve the status page, `/status.json` and Prometheus `/metrics` on this
   * address: `host:port`, or a port alone for loopback; `off` serves nothing.
   * @default {"off"}
   */
  admin?: string;
  /**
   * The control socket `rota status`, `rota reload` and `rota stop` talk to:
   * a unix socket path, or `off`. @default {"" : $XDG_RUNTIME_DIR/rota/<port>.sock, else /tmp/rota-<uid>/<port>.sock}
   */
  controlSocket?: string;
  /**
   * One access log line per request on standard output, written by the
   * worker that answered: `common` (NCSA Common Log Format), `combined` (with
   * referrer and user agent) or `off`. @default {"off"}
   */
  accessLog?: "off" | "common" | "combined";
  /**
   * rota's own settings file: JSON holding any of these options by name, e.g.
   * `{ "workers": 4, "maxRequests": 1000 }`. Options given here and the
   * environment win over it. @default {"rota.config.json" when the working directory has one}
   */
  config?: string;
}

/** A JSON value that is not a string (a string names a file). */
export type ConfigValue = number | boolean | null | readonly unknown[] | { readonly [key: string]: unknown };

/** Options as they arrive from a command line, a settings file or a caller: unchecked, strings allowed. */
export type RawOptions = { readonly [K in keyof ServeOptions]?: unknown };

/** {@linkcode ServeOptions} with every default applied and checked (the settings file already read). */
export type ResolvedOptions = Required<Omit<ServeOptions, "config">>;

type Kind =
  | "port"
  | "count"
  | "limit"
  | "duration"
  | "positive-duration"
  | "bytes"
  | "hostname"
  | "log-format"
  | "app-config"
  | "file"
  | "health-prefix"
  | "address"
  | "control-socket"
  | "access-log";

/** One option: its `serve()` key, its flag, its environment variables, its help line. */
export interface OptionSpec {
  readonly key: Exclude<keyof ServeOptions, "app">;
  readonly flag: string;
  readonly env: readonly string[];
  readonly kind: Kind;
  readonly help: string;
  /**
   * The flag may stand alone on the command line, meaning this value; it then
   * takes the next argument only when that is one of `values`.
   */
  readonly bare?: { readonly value: string; readonly values: readonly string[] };
}

/** The options table: the CLI's flags and help, the environment variables and `serve()` keys. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: "port", flag: "--port", env: ["PORT", "ROTA_PORT"], kind: "port", help: "TCP port (default 8000)" },
  {
    key: "hostname",
    flag: "--hostname",
    env: ["ROTA_HOSTNAME"],
    kind: "hostname",
    help: "address to bind (default 127.0.0.1)",
  },
  {
    key: "workers",
    flag: "--workers",
    env: ["ROTA_WORKERS"],
    kind: "count",
    help: "worker processes (default: available parallelism)",
  },
  {
    key: "gracefulTimeout",
    flag: "--graceful-timeout",
    env: ["ROTA_GRACEFUL_TIMEOUT"],
    kind: "duration",
    help: "time a draining worker gets (default 5s)",
  },
  {
    key: "startupTimeout",
    flag: "--startup-timeout",
    env: ["ROTA_STARTUP_TIMEOUT"],
    kind: "positive-duration",
    help: "time a new worker gets to be up, and a replacement to be ready (default: --init-timeout + 30s)",
  },
  {
    key: "initTimeout",
    flag: "--init-timeout",
    env: ["ROTA_INIT_TIMEOUT"],
    kind: "positive-duration",
    help: "time one init attempt gets before its signal aborts (default 30s)",
  },
  {
    key: "initWait",
    flag: "--init-wait",
    env: ["ROTA_INIT_WAIT"],
    kind: "duration",
    help: "time a request waits for a running init before 503 (default 10s)",
  },
  {
    key: "maxRequests",
    flag: "--max-requests",
    env: ["ROTA_MAX_REQUESTS"],
    kind: "limit",
    help: "recycle a worker after this many requests (default 0: off)",
  },
  {
    key: "maxRequestsJitter",
    flag: "--max-requests-jitter",
    env: ["ROTA_MAX_REQUESTS_JITTER"],
    kind: "limit",
    help: "per-slot stagger added to --max-requests (default: half of it)",
  },
  {
    key: "maxLifetime",
    flag: "--max-lifetime",
    env: ["ROTA_MAX_LIFETIME"],
    kind: "duration",
    help: "recycle a worker after this long (default 0: off)",
  },
  {
    key: "maxMemory",
    flag: "--max-memory",
    env: ["ROTA_MAX_MEMORY"],
    kind: "bytes",
    help: "recycle a worker above this RSS, e.g. 512MB; 1.5x is the hard limit (default 0: off)",
  },
  {
    key: "maxSurge",
    flag: "--max-surge",
    env: ["ROTA_MAX_SURGE"],
    kind: "count",
    help: "replacements under way at once (default 1)",
  },
  {
    key: "maxRestarts",
    flag: "--max-restarts",
    env: ["ROTA_MAX_RESTARTS"],
    kind: "limit",
    help: "give up (exit 1) when one slot needs more restarts in a row than this (default 0: never)",
  },
  {
    key: "watchdogTimeout",
    flag: "--watchdog-timeout",
    env: ["ROTA_WATCHDOG_TIMEOUT"],
    kind: "duration",
    help: "kill and replace a worker whose event loop is blocked this long (default 30s; 0: off)",
  },
  {
    key: "requestTimeout",
    flag: "--request-timeout",
    env: ["ROTA_REQUEST_TIMEOUT"],
    kind: "duration",
    help: "answer 504 to a request running longer (default 0: off)",
  },
  {
    key: "maxBody",
    flag: "--max-body",
    env: ["ROTA_MAX_BODY"],
    kind: "bytes",
    help: "answer 413 to a request body larger than this (default 10MB; 0: no limit)",
  },
  {
    key: "shutdownDelay",
    flag: "--shutdown-delay",
    env: ["ROTA_SHUTDOWN_DELAY"],
    kind: "duration",
    help: "on SIGTERM, serve this long with <health-prefix>/ready answering 503, then drain (default 0)",
  },
  {
    key: "healthPrefix",
    flag: "--health-prefix",
    env: ["ROTA_HEALTH_PREFIX"],
    kind: "health-prefix",
    help: "the app port answers <prefix>/ready and <prefix>/live itself; off turns them off (default /_rota)",
  },
  {
    key: "admin",
    flag: "--admin",
    env: ["ROTA_ADMIN"],
    kind: "address",
    help: "serve the status page, /status.json and /metrics on host:port (a port alone: loopback) (default off)",
  },
  {
    key: "controlSocket",
    flag: "--control-socket",
    env: ["ROTA_CONTROL_SOCKET"],
    kind: "control-socket",
    help: "unix socket for rota status/reload/stop, or off (default $XDG_RUNTIME_DIR/rota/<port>.sock)",
  },
  {
    key: "accessLog",
    flag: "--access-log",
    env: ["ROTA_ACCESS_LOG"],
    kind: "access-log",
    help: "an access log line per request on stdout: common, combined or off; alone: common (default off)",
    bare: { value: "common", values: ["common", "combined", "off"] },
  },
  {
    key: "appConfig",
    flag: "--app-config",
    env: ["ROTA_APP_CONFIG"],
    kind: "app-config",
    help: "JSON file holding the app's shared configuration, env.config (default: none)",
  },
  {
    key: "config",
    flag: "--config",
    env: ["ROTA_CONFIG"],
    kind: "file",
    help: "rota's own settings file (default: rota.config.json when present)",
  },
  {
    key: "logFormat",
    flag: "--log-format",
    env: ["ROTA_LOG_FORMAT"],
    kind: "log-format",
    help: "pretty or json (default: pretty on a terminal)",
  },
];

/** Where the options come from besides the caller, and what the defaults depend on. */
export interface ResolveContext {
  /** The environment variables. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The available parallelism. */
  readonly parallelism: number;
  /** Whether standard error is a terminal. */
  readonly isTerminal: boolean;
  /** rota's settings file, already read. @default {none} */
  readonly settings?: Settings;
}

/** rota's settings file, parsed but not checked: option names and their values. */
export interface Settings {
  /** The file, as named (for messages). */
  readonly path: string;
  /** Its top-level object. */
  readonly values: Readonly<Record<string, unknown>>;
}

function failWith(key: string, rule: string, value: unknown, from: string | undefined): never {
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  throw new RangeError(
    `Cannot start server as '${kebab(key)}' must be ${rule}: current value is ${shown}${from ? ` (from ${from})` : ""}`,
  );
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The longest duration rota takes: 100 years, so that every duration is honoured (timers chain past 24.8 days). */
export const MAX_DURATION_MS = 36500 * 86400000;

/** The most workers one rota runs. */
export const MAX_WORKERS = 1024;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };

/**
 * Parse a duration: `500ms`, `5s`, `2m`, `1h`, `7d`, or plain milliseconds.
 *
 * @param text The duration as written.
 * @returns Milliseconds, or `undefined` when `text` is not a duration.
 * @example
 * ```ts
 * parseDuration("2m"); // 120000
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNITS[match[2] ?? "ms"]);
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/**
 * Parse a size: `512MB`, `512M`, `1GB`, `300KB`, or plain bytes (binary units, as PM2 reads them).
 *
 * @param text The size as written.
 * @returns Bytes, or `undefined` when `text` is not a size.
 * @example
 * ```ts
 * parseBytes("512MB"); // 536870912
 * ```
 */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?b?)$/i.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * BYTE_UNITS[match[2].toLowerCase()]);
}

function coerce(spec: OptionSpec, value: unknown, from: string | undefined): unknown {
  const { key, kind } = spec;
  const fail = (rule: string): never => failWith(key, rule, value, from);
  const isText = typeof value === "string";
  switch (kind) {
    case "port": {
      const port = isText && /^\d+$/.test(value) ? Number(value) : value;
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
        fail("an integer from 1 to 65535");
      }
      return port;
    }
    case "count": {
      const count = isText && /^\d+$/.test(value) ? Number(value) : value;
      if (!Number.isInteger(count) || (count as number) < 1) {
        fail("a positive integer");
      }
      if (key === "workers" && (count as number) > MAX_WORKERS) fail(`a positive integer of at most ${MAX_WORKERS}`);
      return count;
    }
    case "limit": {
      const limit = isText && /^\d+$/.test(value) ? Number(value) : value;
      if (!Number.isInteger(limit) || (limit as number) < 0) {
        fail("a whole number (0 turns it off)");
      }
      return limit;
    }
    case "bytes": {
      const bytes = isText ? parseBytes(value) : value;
      if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0) {
        fail("a size like 512MB, 1GB or plain bytes");
      }
      return bytes;
    }
    case "duration":
    case "positive-duration": {
      const ms = isText ? parseDuration(value) : value;
      if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
        fail("a duration like 500ms, 5s, 2m or 7d");
      }
      if ((ms as number) > MAX_DURATION_MS) fail(`a duration of at most ${MAX_DURATION_MS / 86400000}d`);
      if (kind === "positive-duration" && ms === 0) fail("a duration above 0");
      return Math.round(ms as number);
    }
    case "hostname":
      if (!isText || value.trim() === "" || /\s/.test(value)) {
        fail("a hostname or IP address");
      }
      return value;
    case "app-config":
      if (value === undefined || (isText && value.trim() === "")) fail("a JSON file path or a JSON value");
      return value;
    case "file":
      if (!isText || value.trim() === "") fail("a file path");
      return value;
    case "log-format":
      if (value !== "pretty" && value !== "json") {
        fail("'pretty' or 'json'");
      }
      return value;
    case "access-log":
      if (value !== "off" && value !== "common" && value !== "combined") fail("'common', 'combined' or 'off'");
      return value;
    case "health-prefix":
      if (value === "off") return value;
      if (!isText || !/^(\/[A-Za-z0-9._~-]+)+$/.test(value)) fail("a path like /_rota (no trailing slash), or off");
      return value;
    case "control-socket":
      if (value === "off") return value;
      if (!isText || !value.startsWith("/") || /[\0\n]/.test(value)) fail("an absolute path, or off");
      return value;
    case "address": {
      if (value === "off") return value;
      const address = isText ? parseAddress(value) : undefined;
      if (!address) fail("host:port, [ipv6]:port, a port alone (loopback), or off");
      return formatAddress(address!);
    }
  }
}

const KEYS: ReadonlySet<string> = new Set(["app", ...OPTION_SPECS.map((spec) => spec.key)]);

/**
 * Apply the environment, the settings file and the defaults to `options`, and
 * check every value. Explicit options (flags, or `serve()`'s) win over the
 * environment, which wins over the settings file, which wins over the defaults.
 *
 * @param options What the caller gave (strings are parsed as the CLI would).
 * @param context The environment, the settings file, and what the defaults depend on.
 * @returns Every option, checked.
 * @throws {RangeError} With a one-line message naming the option, its value and where it came from.
 * @throws {RotaError} `ERR_ROTA_USAGE` for an unknown option or setting, or when no app is given.
 * @example
 * ```ts
 * resolveOptions({ app: "app.ts", workers: 2 }, { env: {}, parallelism: 2, isTerminal: false });
 * ```
 */
export function resolveOptions(options: RawOptions, context: ResolveContext): ResolvedOptions {
  const { env, settings } = context;
  for (const key of Object.keys(options as object)) {
    if (!KEYS.has(key)) throw new RotaError("ERR_ROTA_USAGE", `Unknown option '${key}' for serve()`);
  }
  const file = settings?.values ?? {};
  for (const key of Object.keys(file)) {
    if (!KEYS.has(key) || key === "config") {
      throw new RotaError(
        "ERR_ROTA_USAGE",
        `Unknown setting '${key}' in '${
          settings!.path
        }': a setting is a serve() option name such as "workers" or "maxRequests" (see 'rota --help')`,
      );
    }
  }
  const app = options.app ?? file.app;
  if (typeof app !== "string" || app === "") {
    throw new RotaError(
      "ERR_ROTA_USAGE",
      'Cannot start server as no app module was given (rota serve <app-module>, or "app" in rota.config.json)',
    );
  }
  const defaults: Omit<ResolvedOptions, "app"> = {
    port: 8000,
    hostname: "127.0.0.1",
    workers: Math.max(1, context.parallelism),
    gracefulTimeout: 5000,
    startupTimeout: 30000,
    initTimeout: 30000,
    initWait: 10000,
    logFormat: context.isTerminal ? "pretty" : "json",
    maxRequests: 0,
    maxRequestsJitter: 0,
    maxLifetime: 0,
    maxMemory: 0,
    maxSurge: 1,
    maxRestarts: 0,
    watchdogTimeout: 30000,
    requestTimeout: 0,
    maxBody: 10 * 1024 * 1024,
    shutdownDelay: 0,
    healthPrefix: "/_rota",
    admin: "off",
    controlSocket: "",
    accessLog: "off",
    appConfig: {},
  };
  const resolved: Record<string, unknown> = { app };
  let startupGiven = true;
  for (const spec of OPTION_SPECS) {
    if (spec.key === "config") continue;
    const named = spec.env.find((name) => env[name] !== undefined && env[name] !== "");
    const [given, from] = options[spec.key] !== undefined
      ? [options[spec.key], undefined]
      : named !== undefined
      ? [env[named], named]
      : [file[spec.key], settings?.path];
    resolved[spec.key] = given === undefined ? defaults[spec.key] : coerce(spec, given, from);
    if (spec.key === "maxRequestsJitter" && given === undefined) {
      resolved.maxRequestsJitter = Math.floor((resolved.maxRequests as number) / 2);
    }
    // A replacement whose init succeeds within --init-timeout must never be killed for it.
    if (spec.key === "startupTimeout" && given === undefined) startupGiven = false;
  }
  if (!startupGiven) resolved.startupTimeout = (resolved.initTimeout as number) + 30000;
  return resolved as ResolvedOptions;
}

/**
 * Which settings file to read: the one the caller or the environment names,
 * else `rota.config.json` in the working directory if there is one.
 *
 * @param options What the caller gave.
 * @param env The environment variables.
 * @returns The path and whether it was named (a named file must exist).
 * @throws {RangeError} When `config` is given but is not a path.
 * @example
 * ```ts
 * settingsPath({ app: "app.ts" }, {}); // { path: "rota.config.json", named: false }
 * ```
 */
export function settingsPath(options: RawOptions, env: Readonly<Record<string, string | undefined>>): {
  path: string;
  named: boolean;
} {
  const spec = OPTION_SPECS.find((s) => s.key === "config")!;
  if (options.config !== undefined) return { path: coerce(spec, options.config, undefined) as string, named: true };
  const fromEnv = env.ROTA_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return { path: fromEnv, named: true };
  return { path: SETTINGS_FILE, named: false };
}

/** The settings file rota reads from the working directory when none is named. */
export const SETTINGS_FILE = "rota.config.json";

/** A host and a port. */
export interface Address {
  readonly hostname: string;
  readonly port: number;
}

/**
 * Read an address for a listener: `host:port`, `[ipv6]:port`, or a port
 * alone, which means loopback (an admin listener is never public by accident).
 *
 * @param text The address as written.
 * @returns The address, or `undefined` when `text` is not one. Port 0 picks a free port.
 * @example
 * ```ts
 * parseAddress("9100"); // { hostname: "127.0.0.1", port: 9100 }
 * parseAddress("0.0.0.0:9100"); // { hostname: "0.0.0.0", port: 9100 }
 * ```
 */
export function parseAddress(text: string): Address | undefined {
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1] ?? "127.0.0.1";
  return { hostname: host.startsWith("[") ? host.slice(1, -1) : host, port };
}

/**
 * Write an address as `host:port` (`[ipv6]:port`), as {@linkcode parseAddress} reads it.
 *
 * @param address The address.
 * @returns The text.
 */
export function formatAddress(address: Address): string {
  return `${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`;
}
