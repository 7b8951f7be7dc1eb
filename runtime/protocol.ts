/**
 * The wire protocol between the supervisor and its workers.
 *
 * Every message is a JSON object `{ rota: 1, type, ... }` sent over the IPC
 * channel the adapter provides. Both ends validate what they receive with
 * {@linkcode parseWorkerMessage} and {@linkcode parseSupervisorMessage}: a
 * malformed message (or one an application sent on the same channel) is
 * logged and ignored, never trusted and never a crash.
 *
 * @module
 */

/** The protocol version carried in every message. */
export const PROTOCOL_VERSION = 1;

/** The environment variable that carries a worker's spec (JSON) from its supervisor, on every runtime. */
export const SPEC_VARIABLE = "ROTA_WORKER_SPEC";

/** What the supervisor hands a new worker (through its environment). */
export interface WorkerSpec {
  /** Absolute URL of the application module. */
  readonly app: string;
  readonly slot: number;
  readonly generation: number;
  readonly port: number;
  readonly hostname: string;
  readonly initTimeout: number;
  readonly initWait: number;
  readonly gracefulTimeout: number;
  readonly logFormat: "pretty" | "json";
  /** Ask to be recycled after this many requests (this slot's staggered limit); 0: never. */
  readonly maxRequests: number;
  /** Ask to be recycled above this resident set size in bytes; 0: never. */
  readonly maxMemory: number;
  /**
   * How many other workers were ready when this one was spawned. A worker
   * accepts connections only while its init has succeeded, unless no other
   * worker is ready (then it accepts at once and early requests wait for
   * `init`, or get 503 while it fails). Later counts arrive as `peers`.
   */
  readonly peersReady: number;
  /** The configuration when the worker was spawned; later versions arrive as messages. */
  readonly config: Versioned;
  /** How often to send a heartbeat, in milliseconds. */
  readonly heartbeatInterval: number;
  /** Answer 504 to a request whose handler runs longer than this many milliseconds; 0: never. */
  readonly requestTimeout: number;
  /** Answer 413 to a request body larger than this many bytes; 0: no limit. */
  readonly maxBody: number;
  /** Where the app port answers `/ready` and `/live` itself; empty: it does not. */
  readonly healthPrefix: string;
  /** The rota's health when the worker was spawned; later changes arrive as `health`. */
  readonly health: RotaHealth;
  /** Access log lines on standard output: `off`, `common` or `combined`. */
  readonly accessLog: "off" | "common" | "combined";
  /** Colour pretty log lines (the supervisor's standard error is a terminal). */
  readonly logColor: boolean;
}

/**
 * The rota's health as the supervisor tells its workers, which answer the
 * health paths on the app port with it.
 */
export interface RotaHealth {
  /** At least one worker is ready and the rota is not stopping. */
  readonly ready: boolean;
  /** How many workers are ready. */
  readonly workersReady: number;
  /** The supervisor's phase. */
  readonly phase: "starting" | "running" | "stopping";
  /** The supervisor's pid. */
  readonly pid: number;
}

/**
 * Request durations observed since the previous heartbeat, in seconds, over
 * the bounds both ends know (`REQUEST_SECONDS_BOUNDS`): `counts[i]` counts
 * the observations in bucket `i` (not cumulative), the last one those above
 * every bound.
 */
export interface HistogramDelta {
  readonly counts: number[];
  readonly sum: number;
  readonly count: number;
}

/** A configuration value and its version. */
export interface Versioned {
  /** Bumped on every change. */
  readonly version: number;
  /** The configuration (JSON). */
  readonly value: unknown;
}

/** A worker that did not apply a configuration version. */
export interface ReloadFailure {
  /** The worker's slot. */
  readonly slot: number;
  /** How many workers the slot had before this one. */
  readonly generation: number;
  /** The worker's process id. */
  readonly pid: number;
  /** `reload-failed`: its hook threw; `timeout`: no answer in time; `exited`: it went away first. */
  readonly reason: "reload-failed" | "timeout" | "exited";
  /** The hook's error message, for `reload-failed`. */
  readonly message?: string;
}

/** What a successful configuration publish reports. */
export interface PublishResult {
  /** The version the value was published as. */
  readonly version: number;
  /** Workers that did not apply it; empty when every worker did. */
  readonly failed: readonly ReloadFailure[];
}

/** Worker → supervisor. */
export type WorkerMessage =
  /**
   * The worker listens on the channel: the supervisor sends nothing before
   * this, since a message that arrives before a process listens is lost.
   */
  | { rota: 1; type: "hello" }
  /**
   * The worker is about to listen: hold messages until it says `listening` or
   * `paused`. Deno's `node:cluster` loses a worker's listen (it never
   * completes) when a message from the primary arrives while the worker waits
   * for the shared socket; Node and Bun do not, but the protocol is the same.
   */
  | { rota: 1; type: "hold" }
  /** The app is imported and the first init attempt started: the worker is up. */
  | { rota: 1; type: "loaded" }
  /** The worker's server accepts connections. */
  | { rota: 1; type: "listening" }
  /** The worker's server stopped accepting (its init has not succeeded and another worker is ready). */
  | { rota: 1; type: "paused" }
  /** The worker drains on its own (a signal sent to it, or its supervisor went away). */
  | { rota: 1; type: "draining"; reason: string }
  /** An init attempt succeeded, after `ms` milliseconds. */
  | { rota: 1; type: "init-ok"; attempt: number; ms?: number }
  /** An init attempt failed after `ms` milliseconds; the worker stays up and retries. */
  | { rota: 1; type: "init-failed"; attempt: number; code: string; message: string; ms?: number }
  /** An init attempt ignored its abort signal past the deadline: replace this worker. */
  | { rota: 1; type: "init-hung"; attempt: number }
  /** The worker cannot serve at all (bad module, port in use) and is exiting. */
  | { rota: 1; type: "fatal"; code: string; message: string }
  /** The worker reached a recycling limit; it keeps serving until its replacement is ready. */
  | { rota: 1; type: "recycle"; reason: "max-requests" | "max-memory"; detail: string }
  /** `env.config.publish()` from a request handler. */
  | { rota: 1; type: "publish"; id: number; value: unknown; ifVersion?: number }
  /** The worker applied a configuration version (its `reload` hook ran, or threw). */
  | { rota: 1; type: "config-ack"; version: number; ok: boolean; message?: string }
  /** Sent every `heartbeatInterval` from the worker's own event loop, from its first moment. */
  | HeartbeatMessage;

/**
 * A worker's heartbeat: proof that its event loop turns (the supervisor's
 * watchdog kills a worker whose heartbeats stop), and what it is doing, for
 * the watchdog's log line and for metrics.
 */
export interface HeartbeatMessage {
  rota: 1;
  type: "heartbeat";
  /** Where the worker is: importing the app, starting (first init, not listening yet), serving, draining. */
  phase: "loading" | "starting" | "serving" | "draining";
  /** The init attempt running now, if one is. */
  initAttempt?: number;
  /** Requests whose handler finished, since the worker started. */
  requests: number;
  /** Requests whose handler is running. */
  inFlight: number;
  /** Resident set size, in bytes. */
  rss: number;
  /** JavaScript heap in use, in bytes. */
  heapUsed: number;
  /** How late this heartbeat's timer fired: the event loop's lag, in milliseconds. */
  loopLagMs: number;
  /**
   * The oldest request whose handler is running: its method, path (no query) and age in milliseconds (since it
   * arrived, or since init let it through when it waited for init).
   */
  oldestMethod?: string;
  oldestPath?: string;
  oldestMs?: number;
  /** Request durations since the previous heartbeat; absent when there were none. */
  requestSeconds?: HistogramDelta;
}

/** Supervisor → worker. */
export type SupervisorMessage =
  /** Stop accepting, finish in-flight requests, run `dispose`, exit. */
  | { rota: 1; type: "drain" }
  /** Messages are held now (the answer to `hold`): listen. */
  | { rota: 1; type: "holding" }
  /** How many other workers are ready now (the worker accepts only while ready, or while this is 0). */
  | { rota: 1; type: "peers"; ready: number }
  /**
   * The rota's health, sent when it changes and every second: the health
   * paths answer with it, and a worker that stops hearing from its
   * supervisor answers `/live` with 503.
   */
  | ({ rota: 1; type: "health" } & RotaHealth)
  /** A new configuration: apply it, run `reload`, answer `config-ack`. */
  | { rota: 1; type: "config"; version: number; value: unknown }
  /** How a `publish` ended: the new version and who failed to apply it, or an error code. */
  | {
    rota: 1;
    type: "publish-result";
    id: number;
    ok: boolean;
    version?: number;
    failed?: ReloadFailure[];
    code?: string;
    message?: string;
  };

/** A field's kind; a trailing `?` makes it optional. `json` is any value but `undefined`. */
type Kind = "string" | "number" | "boolean" | "json" | "array" | "object";
type Shape = Record<string, Kind | `${Kind}?`>;

const WORKER_MESSAGES: Record<WorkerMessage["type"], Shape> = {
  "hello": {},
  "hold": {},
  "loaded": {},
  "listening": {},
  "paused": {},
  "draining": { reason: "string" },
  "init-ok": { attempt: "number", ms: "number?" },
  "init-failed": { attempt: "number", code: "string", message: "string", ms: "number?" },
  "init-hung": { attempt: "number" },
  "fatal": { code: "string", message: "string" },
  "recycle": { reason: "string", detail: "string" },
  "publish": { id: "number", value: "json", ifVersion: "number?" },
  "config-ack": { version: "number", ok: "boolean", message: "string?" },
  "heartbeat": {
    phase: "string",
    initAttempt: "number?",
    requests: "number",
    inFlight: "number",
    rss: "number",
    heapUsed: "number",
    loopLagMs: "number",
    oldestMethod: "string?",
    oldestPath: "string?",
    oldestMs: "number?",
    requestSeconds: "object?",
  },
};

const SUPERVISOR_MESSAGES: Record<SupervisorMessage["type"], Shape> = {
  "drain": {},
  "holding": {},
  "peers": { ready: "number" },
  "health": { ready: "boolean", workersReady: "number", phase: "string", pid: "number" },
  "config": { version: "number", value: "json" },
  "publish-result": {
    id: "number",
    ok: "boolean",
    version: "number?",
    failed: "array?",
    code: "string?",
    message: "string?",
  },
};

const SPEC_FIELDS: Shape = {
  app: "string",
  slot: "number",
  generation: "number",
  port: "number",
  hostname: "string",
  initTimeout: "number",
  initWait: "number",
  gracefulTimeout: "number",
  logFormat: "string",
  maxRequests: "number",
  maxMemory: "number",
  peersReady: "number",
  config: "object",
  heartbeatInterval: "number",
  requestTimeout: "number",
  maxBody: "number",
  healthPrefix: "string",
  health: "object",
  accessLog: "string",
  logColor: "boolean",
};

/** The result of parsing: the message, or why it was refused. */
export type Parsed<M> = { ok: true; message: M } | { ok: false; reason: string };

function parse<M>(raw: unknown, shapes: Record<string, Shape>): Parsed<M> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: `expected an object, got ${describe(raw)}` };
  }
  const message = raw as Record<string, unknown>;
  if (message.rota !== PROTOCOL_VERSION) {
    return { ok: false, reason: `not a rota v${PROTOCOL_VERSION} message` };
  }
  const type = message.type;
  if (typeof type !== "string" || !Object.hasOwn(shapes, type)) {
    return { ok: false, reason: `unknown message type ${describe(type)}` };
  }
  const misfit = checkFields(message, shapes[type]);
  if (misfit) return { ok: false, reason: `'${type}' ${misfit}` };
  return { ok: true, message: message as M };
}

/** Why `record` does not fit `shape`, or `undefined` when it does. */
function checkFields(record: Record<string, unknown>, shape: Shape): string | undefined {
  for (const [field, declared] of Object.entries(shape)) {
    const optional = declared.endsWith("?");
    const kind = (optional ? declared.slice(0, -1) : declared) as Kind;
    const value = record[field];
    if (optional && value === undefined) continue;
    const fits = kind === "json"
      ? value !== undefined
      : kind === "array"
      ? Array.isArray(value)
      : kind === "object"
      ? typeof value === "object" && value !== null && !Array.isArray(value)
      : kindOf(value) === kind;
    if (!fits) {
      const article = kind === "array" || kind === "object" ? "an" : "a";
      return `needs '${field}' as ${article} ${kind}, got ${describe(value)}`;
    }
  }
  return undefined;
}

/** `typeof`, as a string the lint can see is compared on purpose. */
function kindOf(value: unknown): string {
  return typeof value;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Validate a message a worker sent.
 *
 * @param raw What arrived on the channel.
 * @returns The typed message, or the reason it was refused.
 * @example
 * ```ts
 * parseWorkerMessage({ rota: 1, type: "init-ok", attempt: 1 }).ok; // true
 * ```
 */
export function parseWorkerMessage(raw: unknown): Parsed<WorkerMessage> {
  return parse(raw, WORKER_MESSAGES);
}

/**
 * Validate a message the supervisor sent.
 *
 * @param raw What arrived on the channel.
 * @returns The typed message, or the reason it was refused.
 * @example
 * ```ts
 * parseSupervisorMessage({ rota: 1, type: "drain" }).ok; // true
 * ```
 */
export function parseSupervisorMessage(raw: unknown): Parsed<SupervisorMessage> {
  return parse(raw, SUPERVISOR_MESSAGES);
}

/**
 * Validate the spec a supervisor handed a worker.
 *
 * @param raw The unvalidated spec.
 * @returns The spec.
 * @throws {TypeError} When a field is missing or of the wrong type.
 * @example
 * ```ts
 * const spec = parseWorkerSpec(JSON.parse(environment.ROTA_WORKER_SPEC));
 * ```
 */
export function parseWorkerSpec(raw: unknown): WorkerSpec {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError(`Cannot start worker as its spec is not an object: ${describe(raw)}`);
  }
  const misfit = checkFields(raw as Record<string, unknown>, SPEC_FIELDS);
  if (misfit) throw new TypeError(`Cannot start worker as its spec ${misfit}`);
  return raw as WorkerSpec;
}
