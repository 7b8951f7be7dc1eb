/**
 * What both ends of the control socket do the same on every runtime: the
 * checks on its path and directory, one request line turned into its answer
 * line, lines cut from a byte stream, and why a client could not connect.
 * The sockets themselves are the adapters' (`_node/control.ts` over
 * `node:net`, `_deno/control.ts` over Deno's own API).
 *
 * @module
 */

import { RotaError } from "../runtime/errors.ts";
import {
  CONTROL_LINE_LIMIT,
  CONTROL_PATH_LIMIT,
  type ControlResponse,
  encodeControl,
  parseControlRequest,
} from "../runtime/ops/control.ts";
import type { ControlHandler } from "../runtime/ops/ops_host.ts";

/**
 * A control socket error.
 *
 * @param message One line.
 * @param cause What the runtime threw.
 * @returns `ERR_ROTA_CONTROL`.
 */
export function controlError(message: string, cause?: unknown): RotaError {
  return new RotaError("ERR_ROTA_CONTROL", message, cause === undefined ? undefined : { cause });
}

/**
 * Refuse a path a unix socket cannot have, before anything is created.
 *
 * @param path The socket's path.
 * @throws {RotaError} `ERR_ROTA_CONTROL` when it is relative or too long.
 */
export function checkControlPath(path: string): void {
  if (!path.startsWith("/")) throw controlError(`Cannot listen on control socket '${path}': the path must be absolute`);
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > CONTROL_PATH_LIMIT) {
    throw controlError(
      `Cannot listen on control socket '${path}': ${bytes} bytes is longer than the ${CONTROL_PATH_LIMIT} a unix socket path may have`,
    );
  }
}

/** What {@linkcode checkControlDirectory} reads of the directory (`lstat`, not following a link). */
export interface DirectoryStat {
  readonly isDirectory: boolean;
  readonly uid: number;
  readonly mode: number;
}

/**
 * The socket's directory must be a directory (not a link), owned by us or
 * root, that others cannot write to unless it is sticky like `/tmp`.
 *
 * @param dir Its path, for the message.
 * @param stat Its `lstat`.
 * @param me This process's user id.
 * @throws {RotaError} `ERR_ROTA_CONTROL` saying which rule it breaks.
 */
export function checkControlDirectory(dir: string, stat: DirectoryStat, me: number): void {
  const refuse = (why: string) => controlError(`Cannot use control socket directory '${dir}': ${why}`);
  if (!stat.isDirectory) throw refuse("not a directory");
  if (stat.uid !== me && stat.uid !== 0) throw refuse(`owned by uid ${stat.uid}, not ${me}`);
  const othersWrite = (stat.mode & 0o022) !== 0;
  const sticky = (stat.mode & 0o1000) !== 0;
  if (othersWrite && !sticky) throw refuse(`others may write to it (mode ${(stat.mode & 0o7777).toString(8)})`);
}

/** The message for a path that exists and is no socket. */
export function notASocket(path: string): RotaError {
  return controlError(`Cannot listen on control socket '${path}': the path exists and is no socket`);
}

/** The message for a socket another process answers on. */
export function taken(path: string): RotaError {
  return controlError(`Cannot listen on control socket '${path}': another rota is listening there`);
}

/**
 * Answer one request line: a line that is no request, or a handler that
 * throws, answers `ok: false` (with the thrown error's code when it has one).
 *
 * @param line One line, without its line break.
 * @param handler Answers a request.
 * @returns The answer, as a line.
 */
export async function answerControlLine(line: string, handler: ControlHandler): Promise<string> {
  const parsed = parseControlRequest(line);
  let response: ControlResponse;
  if (!parsed.ok) {
    response = { ok: false, error: { code: "ERR_ROTA_CONTROL", message: `bad request: ${parsed.reason}` } };
  } else {
    try {
      response = await handler(parsed.value);
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      response = {
        ok: false,
        error: {
          code: typeof code === "string" ? code : "ERR_ROTA_CONTROL",
          message: error instanceof Error ? error.message : String(error),
        },
      };
    }
  }
  return encodeControl(response);
}

/** Cuts text that arrives in pieces into lines, skipping blank ones. */
export class LineSplitter {
  #buffered = "";

  /**
   * Take the next piece.
   *
   * @param chunk Text as it arrived.
   * @returns The lines it completed.
   * @throws {RotaError} `ERR_ROTA_CONTROL` once an unfinished line passes `CONTROL_LINE_LIMIT`.
   */
  push(chunk: string): string[] {
    this.#buffered += chunk;
    const lines: string[] = [];
    let end: number;
    while ((end = this.#buffered.indexOf("\n")) >= 0) {
      const line = this.#buffered.slice(0, end);
      this.#buffered = this.#buffered.slice(end + 1);
      if (line.trim() !== "") lines.push(line);
    }
    if (this.#buffered.length > CONTROL_LINE_LIMIT) throw controlError("control line too long");
    return lines;
  }
}

/**
 * Why a client could not reach a rota, from the system's error code.
 *
 * @param path The socket's path.
 * @param error What connecting threw.
 * @returns `ERR_ROTA_CONTROL` in one line.
 */
export function unreachable(path: string, error: unknown): RotaError {
  const code = (error as { code?: string })?.code;
  const why = code === "ENOENT" || code === "ECONNREFUSED"
    ? "no rota is listening there (not running, or started with another --port or --control-socket?)"
    : code === "EACCES"
    ? "permission denied (it belongs to another user)"
    : (error as Error)?.message ?? String(error);
  return controlError(`Cannot reach the rota at '${path}': ${why}`, error);
}

/** The message when no answer came in time. */
export function noAnswer(path: string, timeoutMs: number): RotaError {
  return controlError(`no answer from the rota at '${path}' within ${timeoutMs}ms`);
}

/** The message when the rota closed without answering. */
export function closedWithoutAnswer(path: string): RotaError {
  return controlError(`the rota at '${path}' closed the connection without answering`);
}

/** The message for an answer that is no answer. */
export function malformedAnswer(path: string, reason: string): RotaError {
  return controlError(`malformed answer from the rota at '${path}': ${reason}`);
}
