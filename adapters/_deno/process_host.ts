/**
 * A Deno process as a rota host, through Deno's own API only: what every rota
 * process needs (log, signals, the app's import) and what a supervisor needs
 * besides (files, other processes' memory, the port's probe). Neither this
 * module nor anything it imports loads Deno's Node compatibility layer, which
 * costs a process several megabytes and some start-up time; a supervisor
 * whose workers serve on `Deno.serve` and a worker it spawned itself run on
 * this alone.
 *
 * @module
 */

import { systemClock } from "../../runtime/clock.ts";
import type { HostSignal, ProcessHost } from "../../runtime/host.ts";
import type { SysctlFiles } from "../_linux/connection_migration.ts";
import { residentBytes } from "../_linux/proc_status.ts";
import { importAppModule, type ModuleFiles } from "../import_module.ts";
import { listenError } from "../listen_error.ts";

interface Output {
  writeSync(bytes: Uint8Array): number;
  isTerminal(): boolean;
}

interface FileInfo {
  readonly size: number;
  readonly mtime: Date | null;
  readonly ino: number | null;
}

/** The parts of the `Deno` global this file uses. */
interface DenoProcessApi {
  readonly pid: number;
  readonly args: readonly string[];
  readonly stdout: Output;
  readonly stderr: Output;
  env: { get(name: string): string | undefined; delete(name: string): void; toObject(): Record<string, string> };
  addSignalListener(signal: HostSignal, handler: () => void): void;
  removeSignalListener(signal: HostSignal, handler: () => void): void;
  memoryUsage(): { rss: number; heapUsed: number };
  statSync(path: URL | string): FileInfo;
  cwd(): string;
  exit(code: number): never;
  readTextFile(path: string): Promise<string>;
  readTextFileSync(path: string): string;
  writeTextFile(path: string, text: string): Promise<void>;
  writeTextFileSync(path: string, text: string): void;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  listen(options: { hostname: string; port: number }): { close(): void };
  unrefTimer(id: unknown): void;
}

const deno = (): DenoProcessApi => (globalThis as unknown as { Deno: DenoProcessApi }).Deno;

const encoder = new TextEncoder();

/** Write all of `text`, synchronously, so that lines stay whole and in order and none is lost at exit. */
function writeAll(output: Output, text: string): void {
  const bytes = encoder.encode(text);
  for (let written = 0; written < bytes.length;) written += output.writeSync(bytes.subarray(written));
}

/**
 * How Deno finds an app module's file: a URL as it is, a path from the working
 * directory (`#`, `?` and `%` in it are the file name's, as `pathToFileURL`
 * takes them), and any file system entry counts as there (a directory then
 * fails to import, with its own message), as on Node.
 */
export const denoModuleFiles: ModuleFiles = {
  toUrl(specifier) {
    if (/^(file|https?|data):/.test(specifier)) return new URL(specifier);
    const path = specifier.startsWith("/") ? specifier : `${deno().cwd().replace(/\/?$/, "/")}${specifier}`;
    const url = new URL("file:///");
    // The setter escapes what a path cannot hold in a URL (`#`, `?`, spaces) but not `%`, and normalises `.` and `..`.
    url.pathname = path.replaceAll("%", "%25");
    return url;
  },
  exists(url) {
    try {
      deno().statSync(url);
      return true;
    } catch {
      return false;
    }
  },
  path: (url) => decodeURIComponent(url.pathname),
};

/** How often a watched configuration file is looked at (stat polling survives editors that replace the file). */
const WATCH_INTERVAL_MS = 250;

/** What tells a file's content changed: its time, size and inode (a replacement by rename has a new one). */
function fileVersion(path: string): string {
  try {
    const info = deno().statSync(path);
    return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
  } catch {
    return "missing";
  }
}

function watchFile(path: string, onChange: () => void): () => void {
  let seen = fileVersion(path);
  const timer = setInterval(() => {
    const now = fileVersion(path);
    if (now === seen) return;
    seen = now;
    onChange();
  }, WATCH_INTERVAL_MS);
  // Watching never keeps the process alive.
  deno().unrefTimer(timer);
  return () => clearInterval(timer);
}

async function writeTextFileAtomic(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const temporary = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.${deno().pid}.tmp`;
  try {
    await deno().writeTextFile(temporary, text);
    await deno().rename(temporary, path);
  } catch (error) {
    // A half-written or unrenamable copy is litter beside the user's file.
    await deno().remove(temporary).catch(() => {});
    throw error;
  }
}

/**
 * Check that nothing else listens on the address, before workers bind it with
 * SO_REUSEPORT (which would silently share it with another server): a socket
 * bound without that option fails on a port any other socket holds.
 *
 * @param hostname Address.
 * @param port Port.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when it is taken.
 */
export function probePort(hostname: string, port: number): Promise<void> {
  try {
    deno().listen({ hostname, port }).close();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(listenError(hostname, port, error));
  }
}

/** The sysctl's file through Deno's file API. */
export const denoSysctlFiles: SysctlFiles = {
  read: (path) => deno().readTextFileSync(path),
  write: (path, text) => deno().writeTextFileSync(path, text),
};

/** Everything of {@linkcode Host} that a Deno process provides the same way, supervisor or worker. */
export const denoProcessHost: ProcessHost = {
  clock: systemClock,
  pid: () => deno().pid,
  args: () => deno().args,
  exit: (code) => deno().exit(code),
  env: () => deno().env.toObject(),
  parallelism: () => navigator.hardwareConcurrency,
  isTerminal: () => deno().stderr.isTerminal(),
  writeLog: (line) => writeAll(deno().stderr, `${line}\n`),
  writeOut: (text) => writeAll(deno().stdout, text),
  importModule: (specifier) => importAppModule(specifier, denoModuleFiles),
  onSignal(signal, handler) {
    deno().addSignalListener(signal, handler);
    return () => deno().removeSignalListener(signal, handler);
  },
  memoryUsage: () => deno().memoryUsage().rss,
  heapUsed: () => deno().memoryUsage().heapUsed,
  residentMemory: (pid) => residentBytes(pid, (path) => deno().readTextFileSync(path)),
  readTextFile: (path) => deno().readTextFile(path),
  writeTextFileAtomic,
  watchFile,
};
