/**
 * The command line: `rota serve`, `rota check`, `rota status`, `rota reload`,
 * `rota stop`, `--help`, `--version`.
 *
 * Exit codes: 0 done, 1 the app or the system failed (missing module, port in
 * use, forced shutdown), 2 the command line was wrong. Failures print one line,
 * never a stack trace.
 *
 * @module
 */

import { describeError, isUsageError, RotaError } from "./errors.ts";
import type { SupervisorHost } from "./host.ts";
import { type ControlCommand, defaultControlPath } from "./ops/control.ts";
import { formatStatusTable } from "./ops/status_table.ts";
import {
  OPTION_SPECS,
  type OptionSpec,
  type RawOptions,
  resolveOptions,
  type ServeOptions,
  settingsPath,
} from "./options.ts";
import { checkApp, type Server, startServer } from "./server.ts";
import { readSettings } from "./settings_file.ts";
import { VERSION } from "./version.ts";

/** A parsed command line. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "check"; app: string }
  | { kind: "serve"; options: Partial<Record<keyof ServeOptions, string>> }
  /** `rota status|reload|stop`: where the rota is (`controlSocket`, else `port`, `config`), and `--json` for status. */
  | {
    kind: "control";
    command: ControlCommand;
    options: Partial<Record<"controlSocket" | "port" | "config", string>>;
    json: boolean;
  };

/** The flags `rota status`, `rota reload` and `rota stop` take, besides `--json`. */
const CONTROL_FLAGS: ReadonlySet<string> = new Set(["--control-socket", "--port", "--config"]);
const CONTROL_COMMAND_NAMES: ReadonlySet<string> = new Set<ControlCommand>(["status", "reload", "stop"]);

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function usageError(message: string): RotaError {
  return new RotaError("ERR_ROTA_USAGE", `${message} (see 'rota --help')`);
}

/**
 * Parse a command line (without the runtime and script).
 *
 * @param argv The arguments.
 * @returns The command.
 * @throws {RotaError} `ERR_ROTA_USAGE` for an unknown command or flag, a flag
 * without a value, or a missing or extra app module (`serve` may leave the app
 * module to the settings file).
 * @example
 * ```ts
 * parseArgs(["serve", "app.ts", "--workers", "4"]);
 * // { kind: "serve", options: { app: "app.ts", workers: "4" } }
 * ```
 */
export function parseArgs(argv: readonly string[]): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") return { kind: "help" };
  if (command === "--version" || command === "-v" || command === "version") return { kind: "version" };
  if (command !== "serve" && command !== "check" && !CONTROL_COMMAND_NAMES.has(command)) {
    throw usageError(`Unknown command '${command}'`);
  }
  const control = CONTROL_COMMAND_NAMES.has(command);
  const options: Record<string, string> = {};
  const positional: string[] = [];
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (flag === "--json" && command === "status" && inline === undefined) {
      json = true;
      continue;
    }
    const spec: OptionSpec | undefined = command === "serve" || (control && CONTROL_FLAGS.has(flag))
      ? OPTION_SPECS.find((s) => s.flag === flag)
      : undefined;
    if (!spec) throw usageError(`Unknown flag '${flag}' for 'rota ${command}'`);
    let value = inline;
    if (value === undefined && spec.bare) {
      // A flag that may stand alone takes the next argument only when it is one of its values.
      value = spec.bare.values.includes(rest[i + 1]) ? rest[++i] : spec.bare.value;
    }
    value ??= rest[++i];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) {
      throw usageError(`Flag '${flag}' needs a value`);
    }
    options[spec.key] = value;
  }
  if (control) {
    if (positional.length > 0) throw usageError(`'rota ${command}' takes no app module, got '${positional[0]}'`);
    return { kind: "control", command: command as ControlCommand, options, json };
  }
  if (positional.length > 1) throw usageError(`'rota ${command}' takes one app module, got ${positional.length}`);
  const [app] = positional;
  if (command === "serve") return { kind: "serve", options: app === undefined ? options : { ...options, app } };
  if (app === undefined) throw usageError(`'rota ${command}' needs an app module`);
  return { kind: "check", app };
}

/** The text of `rota --help`. */
export function helpText(): string {
  const width = Math.max(...OPTION_SPECS.map((s) => s.flag.length)) + 8;
  const flags = OPTION_SPECS.map((s) => `  ${`${s.flag} <v>`.padEnd(width)} ${s.help}; env ${s.env.join(" or ")}`);
  return [
    "rota: run a fetch app across a rota of worker processes",
    "",
    "Usage:",
    "  rota serve <app-module> [flags]   serve the module's default export",
    "  rota check <app-module>           import the module and validate it, without serving",
    "  rota status [--json]              the running rota's workers, as a table (or its snapshot as JSON)",
    "  rota reload                       replace every worker of the running rota, one at a time; waits until done",
    "  rota stop                         stop the running rota gracefully; waits until it has exited",
    "  rota --help | --version",
    "",
    "Flags for serve (durations: 500ms, 5s, 2m or plain milliseconds):",
    ...flags,
    "",
    "Settings file: rota.config.json in the working directory (or the file --config names) holds any flag",
    'by its serve() name, e.g. { "workers": 4, "maxRequests": 1000, "app": "app.ts" }.',
    "Flags win over environment variables, which win over the settings file.",
    "",
    "status, reload and stop find the rota by --control-socket <path> (env ROTA_CONTROL_SOCKET), else by",
    "--port (env PORT), as serve does: $XDG_RUNTIME_DIR/rota/<port>.sock, else /tmp/rota-<uid>/<port>.sock.",
    "",
    "Signals: SIGTERM/SIGINT stop gracefully (a second one forces), SIGHUP reloads every worker.",
    "Exit codes: 0 done, 1 the app or system failed, 2 bad command line.",
    "",
  ].join("\n");
}

/**
 * Run the command line until it is done.
 *
 * @param host The runtime.
 * @param argv The arguments (without the runtime and script).
 * @returns The exit code.
 * @example
 * ```ts
 * const code = await runCli(host, ["serve", "app.ts", "--workers", "2"]);
 * ```
 */
export async function runCli(host: SupervisorHost, argv: readonly string[]): Promise<number> {
  let command: Command;
  try {
    command = parseArgs(argv);
  } catch (error) {
    host.writeLog(`rota: ${describeError(error)}`);
    return EXIT.usage;
  }
  switch (command.kind) {
    case "help":
      host.writeOut(helpText());
      return EXIT.ok;
    case "version":
      host.writeOut(`rota ${VERSION} (${host.runtime})\n`);
      return EXIT.ok;
    case "check":
      try {
        const { url, hooks } = await checkApp(host, command.app);
        host.writeOut(`rota: ${url} is a valid app (${hooks.join(", ")})\n`);
        return EXIT.ok;
      } catch (error) {
        host.writeLog(`rota: ${describeError(error)}`);
        return EXIT.failure;
      }
    case "serve":
      return await serveUntilStopped(host, command.options);
    case "control":
      try {
        return await runControl(host, command);
      } catch (error) {
        host.writeLog(`rota: ${describeError(error)}`);
        return isUsageError(error) ? EXIT.usage : EXIT.failure;
      }
  }
}

/** Whether a failed control call means nobody listens there any more (not: it is slow to answer). */
function isGone(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
  return cause === "ENOENT" || cause === "ECONNREFUSED" || /closed the connection/.test(describeError(error));
}

/** How long `rota stop` waits for the rota to be gone. */
const STOP_WAIT_MS = 120_000;
/** How long `rota reload` waits for the rolling reload (each replacement may take `--startup-timeout`). */
const RELOAD_WAIT_MS = 600_000;

/**
 * Where the running rota's control socket is: `--control-socket` or
 * `ROTA_CONTROL_SOCKET`, or the settings file's `controlSocket`, else the
 * default path for the port `serve` would use (flag, `PORT`, settings file, 8000).
 */
async function controlPath(host: SupervisorHost, options: Extract<Command, { kind: "control" }>["options"]) {
  const env = host.env();
  const settings = await readSettings((path) => host.readTextFile(path), settingsPath(options, env));
  const { controlSocket, port } = resolveOptions({ app: "-", ...options }, {
    env,
    settings,
    parallelism: 1,
    isTerminal: false,
  });
  if (controlSocket === "off") {
    throw new RotaError(
      "ERR_ROTA_USAGE",
      "The control socket is off ('controlSocket: off'): name one with --control-socket",
    );
  }
  return controlSocket || defaultControlPath({ env, uid: host.ops.uid(), port });
}

async function runControl(host: SupervisorHost, command: Extract<Command, { kind: "control" }>): Promise<number> {
  const path = await controlPath(host, command.options);
  const call = async (name: ControlCommand, timeoutMs?: number) => {
    const answer = await host.ops.callControl(path, { command: name }, { timeoutMs });
    if (!answer.ok) throw new RotaError("ERR_ROTA_CONTROL", `the rota at '${path}' refused: ${answer.error.message}`);
    return answer;
  };
  const table = async () => {
    const answer = await call("status");
    return answer.command === "status" ? answer.snapshot : undefined;
  };
  switch (command.command) {
    case "status": {
      const snapshot = await table();
      if (snapshot) host.writeOut(command.json ? `${JSON.stringify(snapshot)}\n` : formatStatusTable(snapshot));
      return EXIT.ok;
    }
    case "reload": {
      const answer = await call("reload", RELOAD_WAIT_MS);
      const failed = answer.command === "reload" ? answer.failed ?? [] : [];
      const snapshot = await table();
      if (snapshot) host.writeOut(formatStatusTable(snapshot));
      if (failed.length > 0) {
        host.writeLog(
          `rota: the replacement failed for slot${failed.length === 1 ? "" : "s"} ${
            failed.join(", ")
          }: the old worker keeps serving and the replacement is retried (see the rota's log)`,
        );
        return EXIT.failure;
      }
      host.writeLog("rota: reloaded: every worker runs fresh code");
      return EXIT.ok;
    }
    case "stop": {
      const before = await table();
      await call("stop");
      host.writeLog(`rota: stopping the rota at ${path}${before ? ` (pid ${before.pid})` : ""}`);
      // Gone once its control socket no longer answers (it closes after the last
      // worker exited) and its process has exited.
      const until = host.clock.now() + STOP_WAIT_MS;
      let socketGone = false;
      while (host.clock.now() < until) {
        await new Promise<void>((resolve) => host.clock.setTimeout(resolve, 50));
        if (!socketGone) {
          try {
            await host.ops.callControl(path, { command: "status" }, { timeoutMs: 5000 });
            continue;
          } catch (error) {
            if (!isGone(error)) continue;
            socketGone = true;
          }
        }
        if (before && host.ops.processAlive(before.pid)) continue;
        host.writeLog("rota: stopped");
        return EXIT.ok;
      }
      host.writeLog(`rota: the rota at ${path} is still stopping after ${STOP_WAIT_MS / 1000}s`);
      return EXIT.failure;
    }
  }
}

async function serveUntilStopped(host: SupervisorHost, options: RawOptions): Promise<number> {
  // Signals are heard from the first moment: systemd or Kubernetes may stop a
  // deployment while its setup migrates, and that stop must not be lost.
  const stop = new AbortController();
  const force = new AbortController();
  let server: Server | undefined;
  let reloadWhenStarted = false;
  let stops = 0;
  const onStop = (signal: string) => () => {
    stops++;
    if (stops > 1) {
      force.abort();
      if (server) void server.forceClose();
      return;
    }
    stop.abort();
    if (server) void server.close();
    else host.writeLog(`rota: stopping while starting (${signal}); a second signal forces`);
  };
  const teardown = [
    host.onSignal("SIGTERM", onStop("SIGTERM")),
    host.onSignal("SIGINT", onStop("SIGINT")),
    // A SIGHUP while rota starts is kept, and the reload runs once it has started.
    host.onSignal("SIGHUP", () => (server ? server.reload() : (reloadWhenStarted = true))),
  ];
  try {
    // `rota stop` is a stop like SIGTERM, but never a second one that forces.
    const requestStop = () => {
      if (stop.signal.aborted) return;
      stops++;
      stop.abort();
      if (server) void server.close();
    };
    server = await startServer(host, options, { stop: stop.signal, force: force.signal, requestStop });
    if (reloadWhenStarted) server.reload();
    return await server.closed;
  } catch (error) {
    if (stop.signal.aborted) return force.signal.aborted ? EXIT.failure : EXIT.ok;
    host.writeLog(`rota: ${describeError(error)}`);
    return isUsageError(error) ? EXIT.usage : EXIT.failure;
  } finally {
    teardown.forEach((remove) => remove());
  }
}
