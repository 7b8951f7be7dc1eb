/**
 * The control socket over Deno's own unix sockets: JSON lines, mode 0600, in
 * a directory nobody else may write to; the same checks and messages as
 * `_node/control.ts` (`../control_socket.ts`), without loading Deno's Node
 * compatibility layer into the supervisor.
 *
 * @module
 */

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

interface Conn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

interface UnixListener {
  accept(): Promise<Conn>;
  close(): void;
}

/** How long a listener that failed to accept (not closed) waits before it tries again. */
const ACCEPT_RETRY_MS = 100;

interface FileInfo {
  readonly isDirectory: boolean;
  readonly isSocket: boolean | null;
  readonly uid: number | null;
  readonly mode: number | null;
}

/** The parts of the `Deno` global this file uses. */
interface DenoControlApi {
  listen(options: { transport: "unix"; path: string }): UnixListener;
  connect(options: { transport: "unix"; path: string }): Promise<Conn>;
  mkdir(path: string, options: { recursive: boolean; mode: number }): Promise<void>;
  lstat(path: string): Promise<FileInfo>;
  chmod(path: string, mode: number): Promise<void>;
  remove(path: string): Promise<void>;
  uid(): number | null;
}

const deno = (): DenoControlApi => (globalThis as unknown as { Deno: DenoControlApi }).Deno;

const encoder = new TextEncoder();

async function writeAll(conn: Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) written += await conn.write(bytes.subarray(written));
}

/** Each complete line read from `conn`, until it ends; throws past the size limit. */
async function* readLines(conn: Conn): AsyncGenerator<string> {
  const splitter = new LineSplitter();
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const read = await conn.read(buffer);
    if (read === null) return;
    yield* splitter.push(decoder.decode(buffer.subarray(0, read), { stream: true }));
  }
}

/** Answer one client's requests in order, until it goes away (or the server closes it). */
async function serveClient(conn: Conn, handler: ControlHandler): Promise<void> {
  try {
    for await (const line of readLines(conn)) await writeAll(conn, await answerControlLine(line, handler));
  } catch {
    // The client went away, the server closed it, or it sent a line past the limit.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Make the socket's directory (0700), or check the one there. */
async function secureDirectory(dir: string): Promise<void> {
  await deno().mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await deno().lstat(dir);
  checkControlDirectory(
    dir,
    { isDirectory: stat.isDirectory, uid: stat.uid ?? -1, mode: stat.mode ?? 0 },
    deno().uid() ?? 0,
  );
}

async function answers(path: string): Promise<boolean> {
  try {
    (await deno().connect({ transport: "unix", path })).close();
    return true;
  } catch {
    return false;
  }
}

/** Remove a socket file left by a process that is gone; refuse a live one or a non-socket. */
async function clearStale(path: string): Promise<void> {
  let stat: FileInfo;
  try {
    stat = await deno().lstat(path);
  } catch {
    return;
  }
  if (!stat.isSocket) throw notASocket(path);
  if (await answers(path)) throw taken(path);
  await deno().remove(path);
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
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
  let listener: UnixListener;
  try {
    listener = deno().listen({ transport: "unix", path });
  } catch (error) {
    throw controlError(`Cannot listen on control socket '${path}': ${(error as Error).message}`, error);
  }
  // The directory already keeps others out; the mode says so on the file too.
  await deno().chmod(path, 0o600);
  const clients = new Set<Conn>();
  let closing = false;
  const accepting = (async () => {
    while (!closing) {
      let conn: Conn;
      try {
        conn = await listener.accept();
      } catch {
        // Closed; or out of file descriptors for a moment (EMFILE), which must not end the socket for good.
        if (!closing) await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      clients.add(conn);
      void serveClient(conn, handler).then(() => clients.delete(conn));
    }
  })();
  let closed: Promise<void> | undefined;
  return {
    close: () =>
      closed ??= (async () => {
        closing = true;
        listener.close();
        for (const conn of clients) {
          try {
            conn.close();
          } catch {
            // Closed meanwhile.
          }
        }
        await accepting;
        // Deno removes the file as the listener closes; this is for when it did not.
        await deno().remove(path).catch(() => {});
      })(),
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
export async function callControl(
  path: string,
  request: ControlRequest,
  options: CallControlOptions = {},
): Promise<ControlResponse> {
  const { timeoutMs = 10_000 } = options;
  let conn: Conn | undefined;
  let gaveUp = false;
  const exchange = async (): Promise<ControlResponse> => {
    try {
      conn = await deno().connect({ transport: "unix", path });
    } catch (error) {
      throw unreachable(path, error);
    }
    // Connected only after the time was up: nobody else will close it.
    if (gaveUp) conn.close();
    let line: string | undefined;
    try {
      await writeAll(conn, encodeControl(request));
      for await (line of readLines(conn)) break;
    } catch (error) {
      throw unreachable(path, error);
    }
    if (line === undefined) throw closedWithoutAnswer(path);
    const parsed = parseControlResponse(line);
    if (!parsed.ok) throw malformedAnswer(path, parsed.reason);
    return parsed.value;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answered = exchange();
  // The loser of the race below must not reject unhandled.
  answered.catch(() => {});
  try {
    return await Promise.race([
      answered,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(noAnswer(path, timeoutMs)), timeoutMs)),
    ]);
  } finally {
    gaveUp = true;
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}
