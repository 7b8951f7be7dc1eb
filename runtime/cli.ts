/**
 * The command line: `rota serve`, `rota check`, `--help`, `--version`.
 *
 * Exit codes: 0 done, 1 the app or the system failed (missing module, port in
 * use, forced shutdown), 2 the command line was wrong. Failures print one line,
 * never a stack trace.
 *
 * @module
 */

import { describeError, isUsageError, RotaError } from "./errors.ts";
import type { SupervisorHost } from "./host.ts";
import { OPTION_SPECS, type RawOptions, type ServeOptions } from "./options.ts";
import { checkApp, type Server, startServer } from "./server.ts";
import { VERSION } from "./version.ts";

/** A parsed command line. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "check"; app: string }
  | { kind: "serve"; options: Partial<Record<keyof ServeOptions, string>> };

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
  if (command !== "serve" && command !== "check") {
    throw usageError(`Unknown command '${command}'`);
  }
  const options: Record<string, string> = {};
  const positional: string[] = [];
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
    const spec = command === "serve" ? OPTION_SPECS.find((s) => s.flag === flag) : undefined;
    if (!spec) throw usageError(`Unknown flag '${flag}' for 'rota ${command}'`);
    const value = inline ?? rest[++i];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) {
      throw usageError(`Flag '${flag}' needs a value`);
    }
    options[spec.key] = value;
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
    "  rota --help | --version",
    "",
    "Flags for serve (durations: 500ms, 5s, 2m or plain milliseconds):",
    ...flags,
    "",
    "Settings file: rota.config.json in the working directory (or the file --config names) holds any flag",
    'by its serve() name, e.g. { "workers": 4, "maxRequests": 1000, "app": "app.ts" }.',
    "Flags win over environment variables, which win over the settings file.",
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
    server = await startServer(host, options, { stop: stop.signal, force: force.signal });
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
