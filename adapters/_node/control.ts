/**
 * The control socket over `node:net` unix sockets (Node, Bun and Deno):
 * JSON lines, mode 0600, in a directory nobody else may write to.
 *
 * @module
 */

import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { dirname } from "node:path";
import process from "node:process";
import { RotaError } from "../../runtime/errors.ts";
import {
  CONTROL_LINE_LIMIT,
  CONTROL_PATH_LIMIT,
  type ControlRequest,
  type ControlResponse,
  encodeControl,
  parseControlRequest,
  parseControlResponse,
} from "../../runtime/ops/control.ts";
import type { CallControlOptions, Closable, ControlHandler } from "../../runtime/ops/ops_host.ts";

const uid = (): number => process.getuid?.() ?? 0;

function controlError(message: string, cause?: unknown): RotaError {
  return new RotaError("ERR_ROTA_CONTROL", message, cause === undefined ? undefined : { cause });
}

/** Calls `onLine` for each complete line; fails past the size limit. */
function lines(socket: Socket, onLine: (line: string) => void): void {
  let buffered = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (line.trim() !== "") onLine(line);
    }
    if (buffered.length > CONTROL_LINE_LIMIT) socket.destroy(controlError("control line too long"));
  });
}

/**
 * Make the socket's directory, or check the one there: a directory (not a
 * link), owned by us or root, that others cannot write to unless it is
 * sticky like `/tmp`. A directory rota creates is 0700.
 */
async function secureDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await lstat(dir);
  if (!stat.isDirectory()) throw controlError(`Cannot use control socket directory '${dir}': not a directory`);
  const me = uid();
  if (stat.uid !== me && stat.uid !== 0) {
    throw controlError(`Cannot use control socket directory '${dir}': owned by uid ${stat.uid}, not ${me}`);
  }
  const othersWrite = (stat.mode & 0o022) !== 0;
  const sticky = (stat.mode & 0o1000) !== 0;
  if (othersWrite && !sticky) {
    throw controlError(
      `Cannot use control socket directory '${dir}': others may write to it (mode ${(stat.mode & 0o7777).toString(8)})`,
    );
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Remove a socket file left by a process that is gone; refuse a live one or a non-socket. */
async function clearStale(path: string): Promise<void> {
  let stat;
  try {
    stat = await lstat(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw controlError(`Cannot listen on control socket '${path}': the path exists and is no socket`);
  }
  if (await answers(path)) {
    throw controlError(`Cannot listen on control socket '${path}': another rota is listening there`);
  }
  await unlink(path);
}

/**
 * Listen for control requests on a unix socket.
 *
 * @param path The socket's path.
 * @param handler Answers each request; a throw answers `ok: false` with its code.
 * @returns The server; `close()` removes the socket file.
 * @throws {RotaError} `ERR_ROTA_CONTROL` when the path is too long, unsafe or taken.
 */
export async function listenControl(path: string, handler: ControlHandler): Promise<Closable> {
  if (!path.startsWith("/")) throw controlError(`Cannot listen on control socket '${path}': the path must be absolute`);
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > CONTROL_PATH_LIMIT) {
    throw controlError(
      `Cannot listen on control socket '${path}': ${bytes} bytes is longer than the ${CONTROL_PATH_LIMIT} a unix socket path may have`,
    );
  }
  await secureDirectory(dirname(path));
  await clearStale(path);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let queue = Promise.resolve();
    lines(socket, (line) => {
      queue = queue.then(async () => {
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
        if (!socket.destroyed) socket.write(encodeControl(response));
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once(
      "error",
      (error) => reject(controlError(`Cannot listen on control socket '${path}': ${error.message}`, error)),
    );
    server.listen(path, () => resolve());
  });
  // The directory already keeps others out; the mode says so on the file too.
  await chmod(path, 0o600);
  let closed: Promise<void> | undefined;
  return {
    close: () =>
      closed ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }).then(() => unlink(path).catch(() => {})),
  };
}

/**
 * Send one request and read its answer.
 *
 * @param path The socket's path.
 * @param request The request.
 * @param options How long to wait.
 * @returns The answer.
 * @throws {RotaError} `ERR_ROTA_CONTROL` when nobody listens, the answer is malformed, or none came in time.
 */
export function callControl(
  path: string,
  request: ControlRequest,
  options: CallControlOptions = {},
): Promise<ControlResponse> {
  const { timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const fail = (error: RotaError) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(controlError(`no answer from the rota at '${path}' within ${timeoutMs}ms`)),
      timeoutMs,
    );
    socket.once("connect", () => socket.write(encodeControl(request)));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      const why = error.code === "ENOENT" || error.code === "ECONNREFUSED"
        ? "no rota is listening there (not running, or started with another --port or --control-socket?)"
        : error.code === "EACCES"
        ? "permission denied (it belongs to another user)"
        : error.message;
      fail(controlError(`Cannot reach the rota at '${path}': ${why}`, error));
    });
    socket.once("end", () => fail(controlError(`the rota at '${path}' closed the connection without answering`)));
    lines(socket, (line) => {
      const parsed = parseControlResponse(line);
      clearTimeout(timer);
      socket.removeAllListeners("end");
      socket.end();
      if (parsed.ok) resolve(parsed.value);
      else reject(controlError(`malformed answer from the rota at '${path}': ${parsed.reason}`));
    });
  });
}
