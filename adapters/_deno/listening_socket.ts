/**
 * A Deno worker's listening socket, below what Deno exposes: found through
 * `/proc`, and handled with libc through FFI (`--allow-ffi`). Deno does not
 * tell a server's descriptor, nor let a server stop accepting without also
 * dropping the connections it accepted and has not read yet.
 *
 * - {@linkcode takeOutOfService}: `shutdown(fd, SHUT_RD)` takes the socket
 *   out of its `SO_REUSEPORT` group; with `tcp_migrate_req` at 1 its queue
 *   migrates to a sibling, and what the process accepted is still served.
 * - At a full stop (no sibling), a classic BPF filter that drops SYNs first:
 *   no new handshake starts, the ones under way complete, and the queue is
 *   accepted before the socket goes.
 *
 * @module
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { delay } from "../../runtime/_async.ts";

interface Library {
  symbols: {
    shutdown(fd: number, how: number): number;
    setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  };
}

/** The parts of the `Deno` global this file uses. */
interface DenoFfiApi {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): Library;
  UnsafePointer: { of(buffer: Uint8Array): unknown; value(pointer: unknown): number | bigint };
}

const deno = (): DenoFfiApi => (globalThis as unknown as { Deno: DenoFfiApi }).Deno;

const LIBC = "libc.so.6";
const SHUT_RD = 0;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
/** The longest a full stop waits for a listening socket's queue to empty once no new handshake starts. */
const QUEUE_EMPTY_MS = 200;

let libc: Library | undefined;

/**
 * Load the libc functions this file calls, once.
 *
 * @returns libc.
 * @throws {Error} When FFI is not allowed or the library or a symbol is missing (musl, not Linux).
 */
export function openLibc(): Library {
  return libc ??= deno().dlopen(LIBC, {
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  });
}

/** One row of `/proc/net/tcp{,6}`: local port, state, queue length and inode. */
interface SocketRow {
  readonly port: number;
  readonly listening: boolean;
  /** For a listening socket, the connections in its accept queue. */
  readonly queued: number;
  readonly inode: string;
}

/** The TCP sockets of this network namespace, as `/proc` lists them. */
function socketRows(): SocketRow[] {
  const rows: SocketRow[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // local_address is hex "ADDR:PORT", state 0A is LISTEN, tx_queue:rx_queue, and the inode is the tenth field.
      const fields = line.trim().split(/\s+/);
      if (fields.length <= 9) continue;
      rows.push({
        port: parseInt(fields[1].split(":")[1], 16),
        listening: fields[3] === "0A",
        queued: parseInt(fields[4].split(":")[1], 16),
        inode: fields[9],
      });
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
 * This process's sockets listening on `port` (Deno does not tell a server's
 * descriptor; `/proc` does).
 */
function listeningSockets(port: number): ListeningSocket[] {
  const inodes = new Set(socketRows().filter((row) => row.listening && row.port === port).map((row) => row.inode));
  const found: ListeningSocket[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${name}`));
      if (match && inodes.has(match[1])) found.push({ fd: Number(name), inode: match[1] });
    } catch {
      // Closed while we looked.
    }
  }
  return found;
}

/** How many connections wait in a listening socket's accept queue. */
function queuedOn(inode: string): number {
  return socketRows().find((row) => row.inode === inode)?.queued ?? 0;
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
function dropNewHandshakes(fd: number): boolean {
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
  header.setBigUint64(8, BigInt(deno().UnsafePointer.value(deno().UnsafePointer.of(program))), true);
  return openLibc().symbols.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.byteLength) === 0;
}

/**
 * Take this process's sockets listening on `port` out of service.
 *
 * @param port The port.
 * @param final No other socket takes over the port (a full stop): first stop new handshakes and wait (at most
 * {@linkcode QUEUE_EMPTY_MS}) for the queue to be accepted, so that none is reset.
 * @throws {Error} When no such socket is found, or the system refuses.
 */
export async function takeOutOfService(port: number, final: boolean): Promise<void> {
  const listening = listeningSockets(port);
  if (listening.length === 0) throw new Error("no listening socket found in /proc/self/fd");
  // Those refused meanwhile see a refusal after their SYN's retransmission, as after the close; none is reset.
  if (final && listening.every(({ fd }) => dropNewHandshakes(fd))) {
    const until = Date.now() + QUEUE_EMPTY_MS;
    while (Date.now() < until && listening.some(({ inode }) => queuedOn(inode) > 0)) await delay(2);
  }
  for (const { fd } of listening) {
    if (openLibc().symbols.shutdown(fd, SHUT_RD) !== 0) throw new Error(`shutdown(${fd}, SHUT_RD) failed`);
  }
}
