/**
 * Host capabilities that Node and Bun share through `node:` modules (and a
 * worker that Deno's `node:cluster` forked takes its spec here). Nothing here
 * runs at import time.
 *
 * @module
 */

import { existsSync, readFileSync, unwatchFile, watchFile, writeFileSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { HostSignal, ProcessHost } from "../../runtime/host.ts";
import { SPEC_VARIABLE } from "../../runtime/protocol.ts";
import { systemClock } from "../../runtime/clock.ts";
import { listenError } from "../listen_error.ts";
import { residentBytes } from "../_linux/proc_status.ts";
import type { SysctlFiles } from "../_linux/connection_migration.ts";
import { importAppModule, type ImportHooks, type ModuleFiles } from "../import_module.ts";

export { type ImportHooks, listenError, SPEC_VARIABLE };

/** How Node's modules find an app module's file. */
const nodeModuleFiles: ModuleFiles = {
  toUrl(specifier) {
    if (/^(file|https?|data):/.test(specifier)) return new URL(specifier);
    return pathToFileURL(isAbsolute(specifier) ? specifier : resolve(process.cwd(), specifier));
  },
  exists: (url) => existsSync(fileURLToPath(url)),
  path: (url) => fileURLToPath(url),
};

/**
 * Import a module by path (relative to the working directory) or URL.
 *
 * @param specifier The module.
 * @param hooks What the adapter adds.
 * @returns The module's URL and namespace.
 * @throws {RotaError} `ERR_ROTA_APP_NOT_FOUND`, or `ERR_ROTA_APP_IMPORT` naming
 * the file and line of a syntax error.
 */
export function importModule(specifier: string, hooks: ImportHooks = {}): Promise<{ url: string; module: unknown }> {
  return importAppModule(specifier, nodeModuleFiles, hooks);
}

function onSignal(signal: HostSignal, handler: () => void): () => void {
  process.on(signal, handler);
  return () => void process.off(signal, handler);
}

/**
 * Check that nothing else listens on the address, before workers bind it with
 * SO_REUSEPORT (which would silently share it with another server).
 *
 * @param hostname Address.
 * @param port Port.
 * @returns When the port was free.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when it is not.
 */
export function probePort(hostname: string, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(hostname, port, error)));
    server.listen({ host: hostname, port, exclusive: true }, () => server.close(() => resolvePromise()));
  });
}

/** A sysctl's file through `node:fs`. */
export const nodeSysctlFiles: SysctlFiles = {
  read: (path) => readFileSync(path, "utf8"),
  write: (path, text) => writeFileSync(path, text),
};

/** How often a watched configuration file is looked at (stat polling survives editors that replace the file). */
const WATCH_INTERVAL_MS = 250;

async function writeTextFileAtomic(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, text, "utf8");
    await rename(temporary, path);
  } catch (error) {
    // A half-written or unrenamable copy is litter beside the user's file.
    await rm(temporary, { force: true }).catch(() => {});
    throw error;
  }
}

function watchTextFile(path: string, onChange: () => void): () => void {
  const listener = (now: { mtimeMs: number; size: number }, before: { mtimeMs: number; size: number }) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) onChange();
  };
  watchFile(path, { interval: WATCH_INTERVAL_MS, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}

/** What a Node or Bun process gives supervisor and worker alike. */
export const processHost: ProcessHost = {
  clock: systemClock,
  pid: () => process.pid,
  args: () => process.argv.slice(2),
  exit: (code) => process.exit(code),
  env: () => process.env,
  parallelism: () => availableParallelism(),
  isTerminal: () => Boolean(process.stderr.isTTY),
  writeLog: (line) => void process.stderr.write(`${line}\n`),
  writeOut: (text) => void process.stdout.write(text),
  importModule: (specifier) => importModule(specifier),
  onSignal,
  memoryUsage: () => process.memoryUsage.rss(),
  heapUsed: () => process.memoryUsage().heapUsed,
  residentMemory: (pid) => residentBytes(pid, (path) => readFileSync(path, "utf8")),
  readTextFile: (path) => readFile(path, "utf8"),
  writeTextFileAtomic,
  watchFile: watchTextFile,
};

/**
 * The spec a supervisor left in this process's environment, removed from it
 * so the app's own child processes do not mistake themselves for workers.
 *
 * @returns The raw spec, or `undefined` when this process is no worker.
 */
export function takeSpec(): unknown {
  const raw = process.env[SPEC_VARIABLE];
  if (raw === undefined || typeof process.send !== "function") return undefined;
  delete process.env[SPEC_VARIABLE];
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}
