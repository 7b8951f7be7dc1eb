/**
 * `serve()`: check options, load the app once in the supervisor (to fail
 * early with a clear line, and to run `setup`), then start the supervisor.
 *
 * @module
 */

import { loadApp } from "./app.ts";
import { describeError, RotaError } from "./errors.ts";
import type { Host } from "./host.ts";
import { createLogger } from "./log.ts";
import { type RawOptions, resolveOptions, settingsPath } from "./options.ts";
import { readSettings } from "./settings_file.ts";
import { ConfigStore, parseConfig } from "./config_store.ts";
import { Supervisor, type SupervisorStats, type WorkerStatus } from "./supervisor.ts";

/** A running rota. */
export interface Server extends AsyncDisposable {
  /** Resolves with the exit code once every worker has exited. */
  readonly closed: Promise<number>;
  /** Every live worker. */
  status(): WorkerStatus[];
  /** Replacements, crashes, and the time no worker was ready. */
  stats(): SupervisorStats;
  /**
   * Re-read the `--app-config` file (publishing it when it changed), then replace
   * every worker with a fresh process (fresh code), one at a time,
   * replacement first.
   */
  reload(): void;
  /** Drain every worker and wait for them to exit. */
  close(): Promise<number>;
  /** Kill every worker now. */
  forceClose(): Promise<number>;
}

async function readConfig(host: Host, path: string): Promise<string> {
  try {
    return await host.readTextFile(path);
  } catch (error) {
    const why = (error as { code?: string }).code === "ENOENT" ? "no such file" : describeError(error);
    throw new RotaError("ERR_ROTA_CONFIG", `Cannot read configuration file '${path}': ${why}`, { cause: error });
  }
}

/**
 * Load and check the application module without serving it.
 *
 * @param host The runtime.
 * @param specifier Path or URL of the module.
 * @returns The module's URL and which hooks it has.
 * @throws {RotaError} When the module is missing, throws at import, or has the wrong shape.
 * @example
 * ```ts
 * const { hooks } = await checkApp(host, "./app.ts"); // ["init", "fetch"]
 * ```
 */
export async function checkApp(host: Host, specifier: string): Promise<{ url: string; hooks: string[] }> {
  const { url, module } = await host.importModule(specifier);
  const app = loadApp(module, specifier);
  const hooks = (["setup", "init", "fetch", "reload", "dispose"] as const).filter((h) => app[h]);
  return { url, hooks };
}

/**
 * Start a rota on `host`.
 *
 * @param host The runtime.
 * @param input Options; unset ones come from the environment, then the defaults.
 * @param signal Aborting it while the rota starts stops it again.
 * @returns The running rota, once every slot has a worker that is ready or failing.
 * @throws {RangeError} For an invalid option.
 * @throws {RotaError} When the app cannot be loaded or a worker cannot serve.
 * @example
 * ```ts
 * const server = await startServer(host, { app: "./app.ts", workers: 2 });
 * await server.close();
 * ```
 */
export async function startServer(
  host: Host,
  input: RawOptions,
  signal?: AbortSignal,
): Promise<Server> {
  const env = host.env();
  const settings = await readSettings((path) => host.readTextFile(path), settingsPath(input, env));
  const options = resolveOptions(input, {
    env,
    settings,
    parallelism: host.parallelism(),
    isTerminal: host.isTerminal(),
  });
  const log = createLogger({
    format: options.logFormat,
    name: "supervisor",
    fields: options.logFormat === "json" ? { pid: host.pid() } : {},
    write: host.writeLog,
  });
  if (settings) log.info(`settings from ${settings.path}`);
  const { url, module } = await host.importModule(options.app);
  const app = loadApp(module, options.app);
  const file = typeof options.appConfig === "string" ? options.appConfig : undefined;
  const initial = file === undefined ? options.appConfig : parseConfig(await readConfig(host, file), file);
  const config = new ConfigStore({
    initial,
    clock: host.clock,
    log,
    persist: file === undefined ? undefined : (text) => host.writeTextFileAtomic(file, text),
  });
  try {
    await app.setup?.({ config: initial });
  } catch (error) {
    throw new RotaError("ERR_ROTA_HOOK", `setup failed: ${describeError(error)}`, { cause: error });
  }
  for (const warning of await host.prepare(options)) log.warn(warning);
  log.info(
    `starting ${options.workers} worker${options.workers === 1 ? "" : "s"} of ${options.app} on ${host.runtime}`,
  );
  const supervisor = new Supervisor(host, { ...options, app: url }, log, { config });
  const adoptFile = async () => {
    if (file === undefined) return;
    try {
      await supervisor.adoptConfigFile(await host.readTextFile(file), file);
    } catch (error) {
      log.error(`Cannot read configuration file '${file}': ${describeError(error)}`);
    }
  };
  const unwatch = file === undefined ? () => {} : host.watchFile(file, () => void adoptFile());
  void supervisor.closed.then(unwatch);
  const stop = () => void supervisor.close();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    await supervisor.start();
  } catch (error) {
    // Never leave workers behind: whatever went wrong, they are gone first.
    await supervisor.closed;
    throw error;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  return {
    closed: supervisor.closed,
    status: () => supervisor.status(),
    stats: () => supervisor.stats(),
    reload: () => {
      // Configuration first, so the fresh workers start with it.
      void adoptFile().then(() => supervisor.reload());
    },
    close: () => supervisor.close(),
    forceClose: () => supervisor.forceClose(),
    [Symbol.asyncDispose]: async () => {
      await supervisor.close();
    },
  };
}
