/**
 * A worker's listening socket, below what Bun and Deno expose: found through
 * `/proc`, and handled with libc through the runtime's FFI ({@linkcode Libc},
 * bound in `_bun/libc.ts` and `_deno/libc.ts`). Neither runtime tells a
 * server's descriptor, nor lets a server stop new handshakes without closing
 * its socket, which resets the connections queued on it.
 *
 * - {@linkcode refuseNewHandshakes}, at a full stop: a classic BPF filter that
 *   drops SYNs, then a wait until the handshakes under way have completed and
 *   the server has accepted the queue. No new handshake starts, and the socket
 *   can close with nothing queued. A client refused meanwhile retransmits its SYN a
 *   second later and sees the closed port refuse it, as after the close; no
 *   connection is accepted by the kernel and then reset.
 * - {@linkcode takeOutOfService}: `shutdown(fd, SHUT_RD)` takes the socket out
 *   of its `SO_REUSEPORT` group; with `tcp_migrate_req` at 1 its queue
 *   migrates to a sibling, and what the process accepted is still served.
 *
 * Linux only; the callers fall back to closing the socket elsewhere.
 *
 * @module
 */

import { delay } from "../../runtime/_async.ts";

/** The libc calls this file makes, bound by the runtime's FFI. */
export interface Libc {
  shutdown(fd: number, how: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  /** `length` holds a `socklen_t`: the room in `value` on the way in, the bytes written on the way out. */
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint8Array): number;
  /** Where `buffer`'s bytes are in memory (it must stay alive while the address is used). */
  addressOf(buffer: Uint8Array): bigint;
}

/**
 * The reads of `/proc` this file makes, through the runtime's own file API
 * (bound beside {@linkcode Libc}): a Deno worker that serves on `Deno.serve`
 * loads nothing of Node's.
 */
export interface ProcFiles {
  readText(path: string): string;
  /** The names in a directory. */
  list(path: string): string[];
  readLink(path: string): string;
}

const SHUT_RD = 0;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/** Where `struct tcp_info` keeps `tcpi_unacked`, which for a listening socket is its accept queue's length. */
const TCPI_UNACKED = 24;
/** The longest a full stop waits for a listening socket's queue to empty once no new handshake starts. */
const QUEUE_EMPTY_MS = 200;

/** One row of `/proc/net/tcp{,6}`: local port, state (hex: 0A LISTEN, 03 SYN_RECV) and inode. */
interface SocketRow {
  readonly port: number;
  readonly state: string;
  readonly inode: string;
}

const LISTEN = "0A";
const SYN_RECV = "03";

/** The TCP sockets of this network namespace, as `/proc` lists them. */
function socketRows(proc: ProcFiles): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = proc.readText(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // local_address is hex "ADDR:PORT", then the remote address, the state, and the inode is the tenth field.
      const fields = line.trim().split(/\s+/);
      if (fields.length <= 9) continue;
      rows.push({ port: parseInt(fields[1].split(":")[1], 16), state: fields[3], inode: fields[9] });
    }
  }
  return rows;
}

/** One of this process's listening sockets. */
interface ListeningSocket {
  readonly fd: number;
  readonly inode: string;
}

/**
 * This process's sockets listening on `port` (the runtime does not tell a
 * server's descriptor; `/proc` does).
 *
 * @throws {Error} When there is none.
 */
function listeningSockets(proc: ProcFiles, port: number): ListeningSocket[] {
  const inodes = new Set(
    socketRows(proc).filter((row) => row.state === LISTEN && row.port === port).map((row) => row.inode),
  );
  const found: ListeningSocket[] = [];
  for (const name of proc.list("/proc/self/fd")) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(proc.readLink(`/proc/self/fd/${name}`));
      if (match && inodes.has(match[1])) found.push({ fd: Number(name), inode: match[1] });
    } catch {
      // Closed while we looked.
    }
  }
  if (found.length === 0) throw new Error("no listening socket found in /proc/self/fd");
  return found;
}

/**
 * How many connections wait in a listening socket's accept queue, from the
 * socket itself (`TCP_INFO`): `/proc/net/tcp` would do, but reading it takes
 * milliseconds once thousands of connections are in TIME_WAIT, as after a
 * load of new connections.
 */
function queuedOn(libc: Libc, fd: number): number {
  const info = new Uint8Array(104);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, info.byteLength, true);
  if (libc.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, length) !== 0) return 0;
  return new DataView(info.buffer).getUint32(TCPI_UNACKED, true);
}

/**
 * A classic BPF socket filter that drops TCP segments with SYN set and keeps
 * the rest: on a listening socket, no new handshake starts, and those under
 * way complete (their last ACK has no SYN). A filter on a TCP socket sees the
 * TCP header at offset 0; byte 13 holds the flags.
 */
const DROP_SYN = [
  [0x30, 0, 0, 13], // ldb [13]
  [0x45, 0, 1, 0x02], // jset #SYN, drop, keep
  [0x06, 0, 0, 0], // drop: ret #0
  [0x06, 0, 0, 0xffffffff], // keep: ret #-1
] as const;

/** Attach {@linkcode DROP_SYN} to a socket; false when the system refuses. */
function dropNewHandshakes(libc: Libc, fd: number): boolean {
  const program = new Uint8Array(DROP_SYN.length * 8);
  const code = new DataView(program.buffer);
  DROP_SYN.forEach(([op, jt, jf, k], i) => {
    code.setUint16(i * 8, op, true);
    code.setUint8(i * 8 + 2, jt);
    code.setUint8(i * 8 + 3, jf);
    code.setUint32(i * 8 + 4, k, true);
  });
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } on a 64-bit system.
  const fprog = new Uint8Array(16);
  const header = new DataView(fprog.buffer);
  header.setUint16(0, DROP_SYN.length, true);
  header.setBigUint64(8, libc.addressOf(program), true);
  return libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog) === 0;
}

/**
 * Stop new handshakes on this process's sockets listening on `port`, and wait
 * (at most {@linkcode QUEUE_EMPTY_MS}) until their queues are empty. The
 * server must still be accepting; what it accepts it serves as usual.
 *
 * @param libc The libc calls.
 * @param proc The reads of `/proc`.
 * @param port The port.
 * @throws {Error} When no such socket is found, or the system refuses the filter (seen: EPERM without
 * `CAP_NET_ADMIN`); nothing was waited for then.
 */
export async function refuseNewHandshakes(libc: Libc, proc: ProcFiles, port: number): Promise<void> {
  const listening = listeningSockets(proc, port);
  if (!listening.every(({ fd }) => dropNewHandshakes(libc, fd))) {
    throw new Error("the system refused a socket filter (some kernels ask for CAP_NET_ADMIN)");
  }
  // Empty means nothing queued (read from the socket, cheap) and no handshake under way, its SYN answered before
  // the filter and its last ACK still to come a round trip later (read from /proc, so less often).
  const until = Date.now() + QUEUE_EMPTY_MS;
  while (Date.now() < until) {
    if (listening.some(({ fd }) => queuedOn(libc, fd) > 0)) await delay(2);
    else if (handshakesUnderWay(proc, port) > 0) await delay(10);
    else return;
  }
}

/** Handshakes under way on `port` (SYN answered, last ACK not yet in): `/proc` lists them as SYN_RECV. */
function handshakesUnderWay(proc: ProcFiles, port: number): number {
  return socketRows(proc).filter((row) => row.state === SYN_RECV && row.port === port).length;
}

/**
 * Take this process's sockets listening on `port` out of service.
 *
 * @param libc The libc calls.
 * @param proc The reads of `/proc`.
 * @param port The port.
 * @param final No other socket takes over the port (a full stop): first {@linkcode refuseNewHandshakes}, so
 * that none is reset.
 * @param warn Told when the handshakes cannot be refused; the socket is taken out of service all the same.
 * @throws {Error} When no such socket is found, or the system refuses the `shutdown`.
 */
export async function takeOutOfService(
  libc: Libc,
  proc: ProcFiles,
  port: number,
  final: boolean,
  warn: (message: string) => void,
): Promise<void> {
  if (final) {
    try {
      await refuseNewHandshakes(libc, proc, port);
    } catch (error) {
      warn(refusalFailed(error));
    }
  }
  for (const { fd } of listeningSockets(proc, port)) {
    if (libc.shutdown(fd, SHUT_RD) !== 0) throw new Error(`shutdown(${fd}, SHUT_RD) failed`);
  }
}

/**
 * The warning when new handshakes could not be refused at a full stop.
 *
 * @param error Why.
 * @returns One line for the worker's log.
 */
export function refusalFailed(error: unknown): string {
  const why = error instanceof Error ? error.message : String(error);
  return `cannot refuse new handshakes before the listening socket closes (${why}); connections queued then are reset`;
}
