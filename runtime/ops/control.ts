/**
 * The control socket's protocol: `rota status`, `rota reload` and
 * `rota stop` talk to a running supervisor over a local unix socket, one JSON
 * object per line each way (`{"rota":1,"command":"status"}` →
 * `{"rota":1,"ok":true,"command":"status","snapshot":{…}}`). Never a network
 * port: whoever can open the socket file can stop the service, so it is mode
 * 0600 in a directory only its owner can enter.
 *
 * @module
 */

import type { RotaSnapshot } from "./snapshot.ts";

/** What a control client can ask. */
export type ControlCommand = "status" | "reload" | "stop";

/** Every {@linkcode ControlCommand}. */
export const CONTROL_COMMANDS: readonly ControlCommand[] = ["status", "reload", "stop"];

/** One request. */
export interface ControlRequest {
  readonly command: ControlCommand;
}

/** One answer. */
export type ControlResponse =
  | { readonly ok: true; readonly command: "status"; readonly snapshot: RotaSnapshot }
  /** `failed`: slots whose replacement failed during the reload (their old worker keeps serving). */
  | { readonly ok: true; readonly command: "reload"; readonly failed?: readonly number[] }
  | { readonly ok: true; readonly command: "stop" }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** The outcome of reading one line. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Longest unix socket path Linux accepts (`sun_path` is 108 bytes with its terminating NUL). */
export const CONTROL_PATH_LIMIT = 107;

/** A line never grows past this: a status answer of 500 events is ~100 KiB. */
export const CONTROL_LINE_LIMIT = 4 * 1024 * 1024;

/**
 * Encode a request or an answer as one line.
 *
 * @param message The request or answer.
 * @returns JSON with `rota: 1`, ending with a line break.
 */
export function encodeControl(message: ControlRequest | ControlResponse): string {
  return `${JSON.stringify({ rota: 1, ...message })}\n`;
}

function parseLine(line: string): Parsed<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not an object" };
  }
  if ((value as { rota?: unknown }).rota !== 1) return { ok: false, reason: "not a rota v1 message" };
  return { ok: true, value: value as Record<string, unknown> };
}

/**
 * Read a request line.
 *
 * @param line One line, without its line break.
 * @returns The request, or why it is not one.
 */
export function parseControlRequest(line: string): Parsed<ControlRequest> {
  const parsed = parseLine(line);
  if (!parsed.ok) return parsed;
  const command = parsed.value.command;
  if (!CONTROL_COMMANDS.includes(command as ControlCommand)) {
    return { ok: false, reason: `unknown command ${JSON.stringify(command)}: expected ${CONTROL_COMMANDS.join(", ")}` };
  }
  return { ok: true, value: { command: command as ControlCommand } };
}

/**
 * Read an answer line.
 *
 * @param line One line, without its line break.
 * @returns The answer, or why it is not one.
 */
export function parseControlResponse(line: string): Parsed<ControlResponse> {
  const parsed = parseLine(line);
  if (!parsed.ok) return parsed;
  const { ok, command, snapshot, error, failed } = parsed.value as Record<string, unknown>;
  if (ok === false) {
    const { code, message } = (error ?? {}) as Record<string, unknown>;
    if (typeof code !== "string" || typeof message !== "string") {
      return { ok: false, reason: "an error needs code and message" };
    }
    return { ok: true, value: { ok: false, error: { code, message } } };
  }
  if (ok !== true) return { ok: false, reason: "'ok' must be a boolean" };
  if (command === "status") {
    if (typeof snapshot !== "object" || snapshot === null) return { ok: false, reason: "'status' needs a snapshot" };
    return { ok: true, value: { ok: true, command, snapshot: snapshot as RotaSnapshot } };
  }
  if (command === "reload") {
    if (failed === undefined) return { ok: true, value: { ok: true, command } };
    if (!Array.isArray(failed) || !failed.every((slot) => Number.isInteger(slot))) {
      return { ok: false, reason: "'failed' must be a list of slots" };
    }
    return { ok: true, value: { ok: true, command, failed } };
  }
  if (command === "stop") return { ok: true, value: { ok: true, command } };
  return { ok: false, reason: `unknown command ${JSON.stringify(command)}` };
}

/** What {@linkcode defaultControlPath} reads. */
export interface ControlPathContext {
  /** The environment (`XDG_RUNTIME_DIR`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The user id, for the `/tmp` fallback. */
  readonly uid: number;
  /** The app port: one control socket per rota on a machine. */
  readonly port: number;
}

/**
 * Where a rota's control socket lives unless `--control-socket` names it:
 * `$XDG_RUNTIME_DIR/rota/<port>.sock` (systemd's per-user runtime directory,
 * private to its user), else `/tmp/rota-<uid>/<port>.sock` (the directory is
 * created 0700 and refused when someone else owns it or may write to it).
 *
 * @param context Environment, user and port.
 * @returns An absolute path.
 * @example
 * ```ts
 * defaultControlPath({ env: {}, uid: 1000, port: 8000 }); // "/tmp/rota-1000/8000.sock"
 * ```
 */
export function defaultControlPath(context: ControlPathContext): string {
  const runtimeDir = context.env.XDG_RUNTIME_DIR;
  if (runtimeDir && runtimeDir.startsWith("/")) return `${runtimeDir.replace(/\/+$/, "")}/rota/${context.port}.sock`;
  return `/tmp/rota-${context.uid}/${context.port}.sock`;
}

/** What a control handler acts on (the supervisor, in phase 2). */
export interface ControlActions {
  /** The rota now. */
  snapshot(): RotaSnapshot;
  /** Replace every worker; resolves when the reload is done, with the slots whose replacement failed. */
  reload(): Promise<void | { readonly failed: readonly number[] }>;
  /** Begin a graceful shutdown; the answer goes out before the socket closes. */
  stop(): void;
}

/**
 * Answer control requests from a set of actions.
 *
 * @param actions Snapshot, reload and stop.
 * @returns A handler for `OpsHost.listenControl`.
 * @example
 * ```ts
 * await ops.listenControl(path, createControlHandler({ snapshot, reload: () => server.reload(), stop: () => void server.close() }));
 * ```
 */
export function createControlHandler(actions: ControlActions): (request: ControlRequest) => Promise<ControlResponse> {
  return async (request) => {
    switch (request.command) {
      case "status":
        return { ok: true, command: "status", snapshot: actions.snapshot() };
      case "reload": {
        const failed = (await actions.reload())?.failed ?? [];
        return failed.length === 0 ? { ok: true, command: "reload" } : { ok: true, command: "reload", failed };
      }
      case "stop":
        actions.stop();
        return { ok: true, command: "stop" };
    }
  };
}
