/**
 * Operations around a running supervisor: the admin listener (status page,
 * `/status.json`, `/metrics`), the control socket (`rota status`, `rota
 * reload`, `rota stop`) and systemd's notify protocol, each from the
 * supervisor's snapshot and lifecycle, through the runtime's
 * {@linkcode OpsHost}. Started before the first worker (so a wrong
 * `--admin` stops rota at once, and `rota status` answers while it starts),
 * closed after the last one exited.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { describeError, RotaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseAddress, type ResolvedOptions } from "../options.ts";
import type { RotaLifecycle } from "../supervisor/events.ts";
import { createAdminHandler } from "./admin_routes.ts";
import { createControlHandler, defaultControlPath } from "./control.ts";
import type { Closable, OpsHost } from "./ops_host.ts";
import type { RotaSnapshot } from "./snapshot.ts";
import { statusLine, SystemdNotifier } from "./systemd.ts";

/** What operations need of a supervisor. */
export interface OperatedSupervisor {
  /** The rota now. */
  snapshot(): RotaSnapshot;
  /** Start a rolling reload (resolves once it is queued). */
  reload(): Promise<void>;
  /** Whether a rolling reload is under way. */
  readonly reloading: boolean;
  /** Begin a graceful stop. */
  close(): Promise<number>;
  /** Hear the lifecycle; returns the removal. */
  onLifecycle(listener: (event: RotaLifecycle) => void): () => void;
}

/** Options for {@linkcode startOperations}. */
export interface OperationsOptions {
  /** The runtime's side. */
  ops: OpsHost;
  /** The supervisor to operate. */
  supervisor: OperatedSupervisor;
  /** `admin`, `controlSocket`, `port`, `healthPrefix`. */
  options: Pick<ResolvedOptions, "admin" | "controlSocket" | "port" | "healthPrefix">;
  /** `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `XDG_RUNTIME_DIR`. */
  env: Readonly<Record<string, string | undefined>>;
  /** The supervisor's pid (`MAINPID=`). */
  pid: number;
  /** Timers for systemd's watchdog. */
  clock: Clock;
  /** The supervisor's log. */
  log: Logger;
}

/** Operations that run. */
export interface Operations {
  /** The admin listener's URL, when one listens. */
  readonly adminUrl?: string;
  /** The control socket's path, when one listens. */
  readonly controlPath?: string;
  /** Stop listening and notifying. */
  close(): Promise<void>;
}

/**
 * Wait for the rolling reload that `reload()` starts to be over.
 *
 * @returns The slots whose replacement failed.
 */
async function reloadAndWait(supervisor: OperatedSupervisor): Promise<{ failed: readonly number[] }> {
  let remove = () => {};
  const over = new Promise<{ failed: readonly number[] }>((resolve) => {
    remove = supervisor.onLifecycle((event) => {
      if (event.type === "reloaded") resolve({ failed: event.failed });
      else if (event.type === "stopping" || event.type === "stopped") resolve({ failed: [] });
    });
  });
  try {
    await supervisor.reload();
    // Not running (starting, or stopping): nothing was started, nothing to wait for.
    if (!supervisor.reloading) return { failed: [] };
    return await over;
  } finally {
    remove();
  }
}

/**
 * Start the admin listener, the control socket and systemd notifications.
 *
 * @param options The supervisor, the runtime, and where to listen.
 * @returns What runs, and how to close it.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when `--admin` cannot be bound;
 * `ERR_ROTA_CONTROL` when an explicit `--control-socket` cannot be used (the
 * default path only warns).
 * @example
 * ```ts
 * const operations = await startOperations({ ops: host.ops, supervisor, options, env, pid, clock, log });
 * await supervisor.closed;
 * await operations.close();
 * ```
 */
export async function startOperations(options: OperationsOptions): Promise<Operations> {
  const { ops, supervisor, env, pid, clock, log } = options;
  const closables: Closable[] = [];
  const teardown: Array<() => void> = [];
  const close = async () => {
    teardown.forEach((remove) => remove());
    await Promise.all(closables.map((closable) => closable.close().catch(() => {})));
  };
  try {
    const adminUrl = await startAdmin(options, closables);
    const controlPath = await startControl(options, closables);
    const notifier = new SystemdNotifier({
      env,
      pid,
      send: (state) => ops.notify(state),
      clock,
      warn: (message) => log.warn(message, { event: "systemd.failed" }),
    });
    if (notifier.enabled) {
      const status = () => statusLine(supervisor.snapshot());
      teardown.push(
        supervisor.onLifecycle((event) => {
          switch (event.type) {
            case "started":
            case "reloaded":
              return void notifier.ready(status());
            case "reloading":
              return void notifier.reloading(status(), ops.monotonicMicros?.());
            case "stopping":
              return void notifier.stopping(status());
          }
        }),
      );
      // Last: the states already queued (STOPPING=1) go out before the process may exit.
      closables.push({ close: () => notifier.close() });
    }
    return { adminUrl, controlPath, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function startAdmin(options: OperationsOptions, closables: Closable[]): Promise<string | undefined> {
  const { ops, supervisor, log } = options;
  if (options.options.admin === "off") return undefined;
  const address = parseAddress(options.options.admin);
  if (!address) throw new RotaError("ERR_ROTA_USAGE", `Cannot serve admin on '${options.options.admin}'`);
  const prefix = options.options.healthPrefix === "off" ? "/_rota" : options.options.healthPrefix;
  const server = await ops.serveHttp({
    hostname: address.hostname,
    port: address.port,
    fetch: createAdminHandler({ snapshot: () => supervisor.snapshot(), healthPrefix: prefix }),
  });
  closables.push(server);
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const url = `http://${host}:${server.port}`;
  log.info(`admin listening on ${url}/ (status page), ${url}/metrics, ${url}/status.json`, { event: "rota.admin" });
  return url;
}

async function startControl(options: OperationsOptions, closables: Closable[]): Promise<string | undefined> {
  const { ops, supervisor, env, log } = options;
  const { controlSocket, port } = options.options;
  if (controlSocket === "off") return undefined;
  const path = controlSocket || defaultControlPath({ env, uid: ops.uid(), port });
  const handler = createControlHandler({
    snapshot: () => supervisor.snapshot(),
    reload: () => reloadAndWait(supervisor),
    stop: () => void supervisor.close(),
  });
  try {
    closables.push(await ops.listenControl(path, handler));
  } catch (error) {
    // An operator who named the path relies on it; the default one is a convenience.
    if (controlSocket) throw error;
    log.warn(`no control socket (rota status, reload and stop will not reach this rota): ${describeError(error)}`, {
      event: "rota.control",
    });
    return undefined;
  }
  log.info(`control socket at ${path} (rota status, rota reload, rota stop)`, { event: "rota.control" });
  return path;
}
