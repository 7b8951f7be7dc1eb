/**
 * `serve()`: check options, load the app once in the supervisor (to fail
 * early with a clear line, and to run `setup`), then start the supervisor.
 *
 * @module
 */

import { loadApp } from "./app.ts";
import { describeError, RotaError } from "./errors.ts";
import type { SupervisorHost } from "./host.ts";
import { createLogger, wantsColor } from "./log.ts";
import type { RotaSnapshot } from "./ops/snapshot.ts";
import { startOperations } from "./ops/serve_ops.ts";
import { type RawOptions, resolveOptions, settingsPath } from "./options.ts";
import { readSettings } from "./settings_file.ts";
import { ConfigFile } from "./supervisor/config_file.ts";
import { Supervisor, type SupervisorStats, type WorkerStatus } from "./supervisor/supervisor.ts";

/** A running rota. */
export interface Server extends AsyncDisposable {
  /** Resolves with the exit code once every worker has exited. */
  readonly closed: Promise<number>;
  /** Every live worker. */
  status(): WorkerStatus[];
  /** Replacements, crashes, and the time no worker was ready. */
  stats(): SupervisorStats;
  /** Everything operations see: workers, counters, histograms, recent events (what `rota status` prints). */
  snapshot(): RotaSnapshot;
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
export async function checkApp(host: SupervisorHost, specifier: string): Promise<{ url: string; hooks: string[] }> {
  const { url, module } = await host.importModule(specifier);
  const app = loadApp(module, specifier);
  const hooks = (["setup", "init", "fetch", "reload", "dispose", "warmup"] as const).filter((h) => app[h]);
  return { url, hooks };
}

/** Signals that stop a rota while it starts. */
export interface StartControl {
  /**
   * Stop starting: the stage in progress (an import, `setup`) finishes, no
   * further stage begins, workers that exist drain, and the start rejects.
   */
  stop?: AbortSignal;
  /** Stop now: kill every worker and reject at once, without waiting for the stage in progress. */
  force?: AbortSignal;
  /**
   * `rota stop` arrived on the control socket: the caller stops the rota as
   * it would on SIGTERM (so that a stop asked while starting is a stop, not a
   * failure). @default {a graceful close of the supervisor}
   */
  requestStop?: () => void;
}

function stoppedWhileStarting(): RotaError {
  return new RotaError("ERR_ROTA_STARTUP_FAILED", "Stopped while starting");
}

/**
 * Run one stage of the start: rejects at once when `force` aborts, and after
 * the stage when `stop` has aborted meanwhile.
 */
async function stage<T>(work: () => T | Promise<T>, control: StartControl): Promise<T> {
  const { stop, force } = control;
  if (stop?.aborted || force?.aborted) throw stoppedWhileStarting();
  let abandon: () => void = () => {};
  const forced = new Promise<never>((_, reject) => {
    abandon = () => reject(stoppedWhileStarting());
    force?.addEventListener("abort", abandon, { once: true });
  });
  try {
    const result = await Promise.race([Promise.resolve().then(work), forced]);
    if (stop?.aborted || force?.aborted) throw stoppedWhileStarting();
    return result;
  } finally {
    force?.removeEventListener("abort", abandon);
  }
}

/**
 * Start a rota on `host`.
 *
 * @param host The runtime, supervisor side.
 * @param input Options; unset ones come from the environment, then the defaults.
 * @param control Signals that stop the rota while it starts.
 * @returns The running rota, once every slot has a worker that is ready or failing.
 * @throws {RangeError} For an invalid option.
 * @throws {RotaError} When the app cannot be loaded or a worker cannot serve;
 * `ERR_ROTA_STARTUP_FAILED` when stopped while starting.
 * @example
 * ```ts
 * const server = await startServer(host, { app: "./app.ts", workers: 2 });
 * await server.close();
 * ```
 */
export async function startServer(
  host: SupervisorHost,
  input: RawOptions,
  control: StartControl = {},
): Promise<Server> {
  const env = host.env();
  const settings = await stage(
    () => readSettings((path) => host.readTextFile(path), settingsPath(input, env)),
    control,
  );
  const options = resolveOptions(input, {
    env,
    settings,
    parallelism: host.parallelism(),
    isTerminal: host.isTerminal(),
  });
  const logColor = options.logFormat === "pretty" && wantsColor(host.isTerminal(), env);
  const log = createLogger({
    format: options.logFormat,
    name: "supervisor",
    pid: host.pid(),
    color: logColor,
    write: host.writeLog,
  });
  if (settings) log.info(`settings from ${settings.path}`);
  const { url, module } = await stage(() => host.importModule(options.app), control);
  const app = loadApp(module, options.app);
  const file = typeof options.appConfig === "string" ? new ConfigFile(host, options.appConfig) : undefined;
  const initial = file ? await stage(() => file.read(), control) : options.appConfig;
  await stage(async () => {
    try {
      await app.setup?.({ config: initial });
    } catch (error) {
      throw new RotaError("ERR_ROTA_HOOK", `setup failed: ${describeError(error)}`, { cause: error });
    }
  }, control);
  for (const warning of await stage(() => host.prepare(options), control)) log.warn(warning);
  const supervisor = new Supervisor(host, {
    options: { ...options, app: url },
    log,
    config: { initial, file },
    logColor,
  });
  // Not a stage: once listening, operations are closed with the supervisor, a stop meanwhile included.
  const requestStop = control.requestStop ?? (() => void supervisor.close());
  const operations = await startOperations({
    ops: host.ops,
    supervisor: {
      snapshot: () => supervisor.snapshot(),
      reload: () => supervisor.reload(),
      get reloading() {
        return supervisor.reloading;
      },
      close: () => (requestStop(), supervisor.closed),
      onLifecycle: (listener) => supervisor.onLifecycle(listener),
    },
    options,
    env,
    pid: host.pid(),
    clock: host.clock,
    log,
  });
  log.info(
    `starting ${options.workers} worker${options.workers === 1 ? "" : "s"} of ${options.app} on ${host.runtime}`,
    { event: "rota.starting" },
  );
  // Operations outlive the workers: the control socket answers `rota stop` until the very end.
  const closed = supervisor.closed.then(async (code) => {
    await operations.close();
    return code;
  });
  const { stop, force } = control;
  const close = () => void supervisor.close();
  const kill = () => void supervisor.forceClose();
  stop?.addEventListener("abort", close, { once: true });
  force?.addEventListener("abort", kill, { once: true });
  try {
    if (stop?.aborted || force?.aborted) throw stoppedWhileStarting();
    await supervisor.start();
  } catch (error) {
    // Never leave workers behind: whatever went wrong, they are gone first.
    if (force?.aborted) void supervisor.forceClose();
    else void supervisor.close();
    await closed;
    throw error;
  } finally {
    stop?.removeEventListener("abort", close);
    force?.removeEventListener("abort", kill);
  }
  return {
    closed,
    status: () => supervisor.status(),
    stats: () => supervisor.stats(),
    snapshot: () => supervisor.snapshot(),
    reload: () => void supervisor.reload(),
    close: async () => {
      await supervisor.close();
      return await closed;
    },
    forceClose: async () => {
      await supervisor.forceClose();
      return await closed;
    },
    [Symbol.asyncDispose]: async () => {
      await supervisor.close();
      await closed;
    },
  };
}
