/**
 * libc's `shutdown`, `setsockopt` and `getsockopt` through `Deno.dlopen` (`--allow-ffi`),
 * and the reads of `/proc` through Deno's own file API, for `_linux/listening_socket.ts`.
 *
 * @module
 */

import type { Libc, ProcFiles } from "../_linux/listening_socket.ts";

interface Library {
  symbols: {
    shutdown(fd: number, how: number): number;
    setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
    getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint8Array): number;
  };
}

/** The parts of the `Deno` global this file uses. */
interface DenoFfiApi {
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): Library;
  UnsafePointer: { of(buffer: Uint8Array): unknown; value(pointer: unknown): number | bigint };
  readTextFileSync(path: string): string;
  readDirSync(path: string): Iterable<{ name: string }>;
  readLinkSync(path: string): string;
}

const deno = (): DenoFfiApi => (globalThis as unknown as { Deno: DenoFfiApi }).Deno;

let libc: Libc | undefined;

/**
 * Load the libc functions, once.
 *
 * @returns libc.
 * @throws {Error} When FFI is not allowed or the library or a symbol is missing (musl, not Linux).
 */
export function openLibc(): Libc {
  if (libc) return libc;
  const { symbols } = deno().dlopen("libc.so.6", {
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  });
  return libc = {
    shutdown: (fd, how) => symbols.shutdown(fd, how),
    setsockopt: (fd, level, name, value) => symbols.setsockopt(fd, level, name, value, value.byteLength),
    getsockopt: (fd, level, name, value, length) => symbols.getsockopt(fd, level, name, value, length),
    addressOf: (buffer) => BigInt(deno().UnsafePointer.value(deno().UnsafePointer.of(buffer))),
  };
}

/** The reads of `/proc`, through Deno's file API. */
export const denoProcFiles: ProcFiles = {
  readText: (path) => deno().readTextFileSync(path),
  list: (path) => Array.from(deno().readDirSync(path), (entry) => entry.name),
  readLink: (path) => deno().readLinkSync(path),
};
