/**
 * The control socket over `node:net` unix sockets (Node and Bun): JSON lines,
 * mode 0600, in a directory nobody else may write to. What does not depend on
 * the runtime is in `../control_socket.ts`.
 *
 * @module
 */

import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { dirname } from "node:path";
import process from "node:process";
import {
  type ControlRequest,
  type ControlResponse,
  encodeControl,
  parseControlResponse,
} from "../../runtime/ops/control.ts";
import type { CallControlOptions, Closable, ControlHandler } from "../../runtime/ops/ops_host.ts";
import {
  answerControlLine,
  checkControlDirectory,
  checkControlPath,
  closedWithoutAnswer,
  controlError,
  LineSplitter,
  malformedAnswer,
  noAnswer,
  notASocket,
  taken,
  unreachable,
} from "../control_socket.ts";

/** Calls `onLine` for each complete line; fails past the size limit. */
function lines(socket: Socket, onLine: (line: string) => void): void {
  const splitter = new LineSplitter();
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    try {
      for (const line of splitter.push(chunk)) onLine(line);
    } catch (error) {
      socket.destroy(error as Error);
    }
  });
}

/** Make the socket's directory (0700), or check the one there. */
async function secureDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await lstat(dir);
  checkControlDirectory(
    dir,
    { isDirectory: stat.isDirectory(), uid: stat.uid, mode: stat.mode },
    process.getuid?.() ?? 0,
  );
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
  if (!stat.isSocket()) throw notASocket(path);
  if (await answers(path)) throw taken(path);
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
  checkControlPath(path);
  await secureDirectory(dirname(path));
  await clearStale(path);
  const sockets = new Set<Socket>();
  // Half-open: a client may end its side once it has asked (socat and `nc -U` do at the end of their input) and
  // still wait for the answers, which can take a while (a reload's comes when it is done). Ours ends after them.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let queue = Promise.resolve();
    lines(socket, (line) => {
      queue = queue.then(async () => {
        const answer = await answerControlLine(line, handler);
        if (!socket.destroyed) socket.write(answer);
      });
    });
    socket.on("end", () => void queue.then(() => socket.end()));
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
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(noAnswer(path, timeoutMs)), timeoutMs);
    socket.once("connect", () => socket.write(encodeControl(request)));
    socket.once("error", (error) => fail(unreachable(path, error)));
    socket.once("end", () => fail(closedWithoutAnswer(path)));
    lines(socket, (line) => {
      const parsed = parseControlResponse(line);
      clearTimeout(timer);
      socket.removeAllListeners("end");
      socket.end();
      if (parsed.ok) resolve(parsed.value);
      else reject(malformedAnswer(path, parsed.reason));
    });
  });
}
