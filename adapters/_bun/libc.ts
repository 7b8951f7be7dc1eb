/**
 * libc's `shutdown`, `setsockopt` and `getsockopt` through `bun:ffi`, and the
 * reads of `/proc` through `node:fs`, for `_linux/listening_socket.ts`.
 *
 * @module
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { Libc, ProcFiles } from "../_linux/listening_socket.ts";

/** The parts of `bun:ffi` this file uses. */
interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
    symbols: {
      shutdown(fd: number, how: number): number;
      setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
      getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint8Array): number;
    };
  };
  ptr(buffer: Uint8Array): number;
}

// Not a literal: neither esbuild nor TypeScript should resolve it; only Bun loads this file.
const BUN_FFI = "bun:ffi";

let libc: Promise<Libc> | undefined;

/**
 * Load the libc functions, once.
 *
 * @returns libc; rejects when the library or a symbol is missing (musl, not Linux).
 */
export function openLibc(): Promise<Libc> {
  return libc ??= import(BUN_FFI).then((ffi: BunFfi) => {
    const { symbols } = ffi.dlopen("libc.so.6", {
      shutdown: { args: ["i32", "i32"], returns: "i32" },
      setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
      getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
    });
    return {
      shutdown: (fd, how) => symbols.shutdown(fd, how),
      setsockopt: (fd, level, name, value) => symbols.setsockopt(fd, level, name, value, value.byteLength),
      getsockopt: (fd, level, name, value, length) => symbols.getsockopt(fd, level, name, value, length),
      addressOf: (buffer) => BigInt(ffi.ptr(buffer)),
    };
  });
}

/** The reads of `/proc`, through `node:fs` (which Bun provides natively). */
export const bunProcFiles: ProcFiles = {
  readText: (path) => readFileSync(path, "utf8"),
  list: (path) => readdirSync(path),
  readLink: (path) => readlinkSync(path),
};
