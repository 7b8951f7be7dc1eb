import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs } from "../../runtime/cli.ts";
import { parseAddress, parseDuration, type RawOptions, resolveOptions, settingsPath } from "../../runtime/options.ts";
import { parseSupervisorMessage, parseWorkerMessage } from "../../runtime/protocol.ts";

const context = { env: {}, parallelism: 3, isTerminal: false };
const withEnv = (env: Record<string, string>) => ({ ...context, env });
const withFile = (values: Record<string, unknown>, env: Record<string, string> = {}) => ({
  ...context,
  env,
  settings: { path: "rota.config.json", values },
});

test("parseDuration() reads ms, s, m, h, d and plain milliseconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120000);
  assert.equal(parseDuration("250"), 250);
  assert.equal(parseDuration("600h"), 600 * 3600 * 1000);
  assert.equal(parseDuration("7d"), 7 * 86400 * 1000);
  assert.equal(parseDuration("soon"), undefined);
  assert.equal(parseDuration("-5s"), undefined);
});

test("resolveOptions() applies defaults, and explicit options win over the environment", () => {
  const defaults = resolveOptions({ app: "a.ts" }, context);
  assert.deepEqual(defaults, {
    app: "a.ts",
    port: 8000,
    hostname: "127.0.0.1",
    workers: 3,
    gracefulTimeout: 5000,
    startupTimeout: 60000,
    initTimeout: 30000,
    initWait: 10000,
    logFormat: "json",
    maxRequests: 0,
    maxRequestsJitter: 0,
    maxLifetime: 0,
    maxMemory: 0,
    maxSurge: 1,
    maxRestarts: 0,
    watchdogTimeout: 30000,
    requestTimeout: 0,
    maxBody: 10 * 2 ** 20,
    shutdownDelay: 0,
    healthPrefix: "/_rota",
    admin: "off",
    controlSocket: "",
    accessLog: "off",
    appConfig: {},
  });
  assert.equal(resolveOptions({ app: "a.ts", maxRequests: "500" }, context).maxRequestsJitter, 250);
  assert.equal(resolveOptions({ app: "a.ts", maxMemory: "512MB" }, context).maxMemory, 512 * 2 ** 20);
  const env = { PORT: "9000", ROTA_WORKERS: "5", ROTA_GRACEFUL_TIMEOUT: "2s" };
  const fromEnv = resolveOptions({ app: "a.ts", workers: 2 }, withEnv(env));
  assert.equal(fromEnv.port, 9000);
  assert.equal(fromEnv.workers, 2);
  assert.equal(fromEnv.gracefulTimeout, 2000);
});

test("resolveOptions() gives a replacement --init-timeout plus 30 s to be ready unless told otherwise", () => {
  assert.equal(resolveOptions({ app: "a.ts", initTimeout: "2m" }, context).startupTimeout, 150000);
  assert.equal(
    resolveOptions({ app: "a.ts", initTimeout: "2m", startupTimeout: "10s" }, context).startupTimeout,
    10000,
  );
});

test("resolveOptions() refuses a zero where it means nothing, and honours durations beyond a timer's 24.8 days", () => {
  for (const key of ["initTimeout", "startupTimeout"]) {
    assert.throws(
      () => resolveOptions({ app: "a", [key]: "0" }, context),
      /must be a duration above 0: current value is 0/,
    );
  }
  assert.equal(resolveOptions({ app: "a", maxLifetime: "600h" }, context).maxLifetime, 2_160_000_000);
  assert.equal(resolveOptions({ app: "a", gracefulTimeout: "0" }, context).gracefulTimeout, 0);
  assert.throws(
    () => resolveOptions({ app: "a", maxLifetime: "99999999999d" }, context),
    /'max-lifetime' must be a duration of at most 36500d: current value is 99999999999d/,
  );
  assert.throws(
    () => resolveOptions({ app: "a", workers: 100000 }, context),
    /'workers' must be a positive integer of at most 1024: current value is 100000/,
  );
});

test("resolveOptions() takes the settings file below flags and the environment, above the defaults", () => {
  const settings = { workers: 4, maxRequests: 1000, port: "9100", gracefulTimeout: "2s", app: "from-file.ts" };
  const fromFile = resolveOptions({}, withFile(settings));
  assert.equal(fromFile.app, "from-file.ts");
  assert.equal(fromFile.workers, 4);
  assert.equal(fromFile.maxRequests, 1000);
  assert.equal(fromFile.maxRequestsJitter, 500, "the jitter's default follows the file's maxRequests");
  assert.equal(fromFile.port, 9100);
  assert.equal(fromFile.gracefulTimeout, 2000);
  const layered = resolveOptions({ app: "flag.ts", workers: "2" }, withFile(settings, { ROTA_MAX_REQUESTS: "10" }));
  assert.equal(layered.app, "flag.ts", "the positional app module wins over the file's");
  assert.equal(layered.workers, 2, "a flag wins over the file");
  assert.equal(layered.maxRequests, 10, "the environment wins over the file");
  assert.equal(layered.port, 9100, "the file wins over the default");
  assert.deepEqual(resolveOptions({ app: "a.ts" }, withFile({ appConfig: { mode: "file" } })).appConfig, {
    mode: "file",
  });
});

test("resolveOptions() refuses an unknown setting or serve() option by name, with ERR_ROTA_USAGE", () => {
  assert.throws(() => resolveOptions({ app: "a.ts" }, withFile({ wrokers: 4 })), {
    name: "RotaError",
    code: "ERR_ROTA_USAGE",
    message: /^Unknown setting 'wrokers' in 'rota\.config\.json'/,
  });
  assert.throws(() => resolveOptions({ app: "a.ts" }, withFile({ config: "other.json" })), {
    code: "ERR_ROTA_USAGE",
    message: /^Unknown setting 'config'/,
  });
  assert.throws(() => resolveOptions({ app: "a.ts", wrokers: 4 } as RawOptions, context), {
    name: "RotaError",
    code: "ERR_ROTA_USAGE",
    message: "Unknown option 'wrokers' for serve()",
  });
  assert.throws(() => resolveOptions({ app: "a.ts" }, withFile({ workers: 0 })), {
    name: "RangeError",
    message: "Cannot start server as 'workers' must be a positive integer: current value is 0 (from rota.config.json)",
  });
});

test("settingsPath() takes the named file, else the environment's, else rota.config.json", () => {
  assert.deepEqual(settingsPath({ app: "a.ts" }, {}), { path: "rota.config.json", named: false });
  assert.deepEqual(settingsPath({}, { ROTA_CONFIG: "env.json" }), { path: "env.json", named: true });
  assert.deepEqual(settingsPath({ config: "flag.json" }, { ROTA_CONFIG: "env.json" }), {
    path: "flag.json",
    named: true,
  });
  assert.throws(() => settingsPath({ config: 4 }, {}), /'config' must be a file path/);
});

test("resolveOptions() rejects bad values with one line naming the option and value", () => {
  assert.throws(() => resolveOptions({ app: "a", workers: 0 }, context), {
    name: "RangeError",
    message: "Cannot start server as 'workers' must be a positive integer: current value is 0",
  });
  assert.throws(
    () => resolveOptions({ app: "a", port: "70000" }, context),
    /'port' must be an integer from 1 to 65535/,
  );
  assert.throws(
    () => resolveOptions({ app: "a" }, withEnv({ ROTA_INIT_TIMEOUT: "later" })),
    /'init-timeout' must be a duration like 500ms, 5s, 2m or 7d: current value is later \(from ROTA_INIT_TIMEOUT\)/,
  );
  assert.throws(
    () => resolveOptions({ app: "a", logFormat: "xml" }, context),
    /'log-format' must be 'pretty' or 'json'/,
  );
  assert.throws(() => resolveOptions({}, context), { code: "ERR_ROTA_USAGE" });
});

test("parseArgs() reads commands, flags in both forms, and refuses what it does not know", () => {
  assert.deepEqual(parseArgs(["serve", "app.ts", "--workers", "4", "--port=8080"]), {
    kind: "serve",
    options: { app: "app.ts", workers: "4", port: "8080" },
  });
  assert.deepEqual(parseArgs(["serve", "--workers", "2"]), { kind: "serve", options: { workers: "2" } });
  assert.deepEqual(parseArgs(["check", "app.ts"]), { kind: "check", app: "app.ts" });
  assert.throws(() => parseArgs(["check"]), /'rota check' needs an app module/);
  assert.deepEqual(parseArgs([]), { kind: "help" });
  assert.throws(() => parseArgs(["serve", "app.ts", "--nope", "1"]), /Unknown flag '--nope'/);
  assert.throws(() => parseArgs(["serve", "app.ts", "--port"]), /Flag '--port' needs a value/);
  assert.throws(() => parseArgs(["serve", "a.ts", "b.ts"]), /takes one app module, got 2/);
  assert.throws(() => parseArgs(["check", "a.ts", "--workers", "2"]), /Unknown flag '--workers' for 'rota check'/);
});

test("parseWorkerMessage() accepts the protocol and refuses anything else with a reason", () => {
  assert.deepEqual(parseWorkerMessage({ rota: 1, type: "init-ok", attempt: 2 }), {
    ok: true,
    message: { rota: 1, type: "init-ok", attempt: 2 },
  });
  for (
    const [raw, reason] of [
      [null, /expected an object/],
      [[1], /expected an object/],
      [{ type: "init-ok", attempt: 1 }, /not a rota v1 message/],
      [{ rota: 1, type: "shutdown" }, /unknown message type "shutdown"/],
      [{ rota: 1, type: "fatal", code: "E" }, /'fatal' needs 'message' as a string/],
    ] as const
  ) {
    const parsed = parseWorkerMessage(raw);
    assert.equal(parsed.ok, false);
    assert.match((parsed as { reason: string }).reason, reason);
  }
  assert.equal(parseSupervisorMessage({ rota: 1, type: "drain" }).ok, true);
  assert.equal(parseSupervisorMessage({ rota: 1, type: "init-ok", attempt: 1 }).ok, false);
});

test("resolveOptions() reads the operations options: shutdown delay, health prefix, admin address, control socket, access log", () => {
  const resolved = resolveOptions({
    app: "a",
    shutdownDelay: "5s",
    healthPrefix: "/healthz",
    admin: "9100",
    controlSocket: "/run/rota/8000.sock",
    accessLog: "combined",
  }, context);
  assert.deepEqual(
    [resolved.shutdownDelay, resolved.healthPrefix, resolved.admin, resolved.controlSocket, resolved.accessLog],
    [5000, "/healthz", "127.0.0.1:9100", "/run/rota/8000.sock", "combined"],
  );
  assert.equal(resolveOptions({ app: "a", admin: "0.0.0.0:9100" }, context).admin, "0.0.0.0:9100");
  assert.equal(resolveOptions({ app: "a", admin: "[::1]:9100" }, context).admin, "[::1]:9100");
  assert.equal(resolveOptions({ app: "a" }, withEnv({ ROTA_HEALTH_PREFIX: "off" })).healthPrefix, "off");
  for (
    const [key, value, rule] of [
      ["healthPrefix", "_rota", /a path like \/_rota \(no trailing slash\), or off/],
      ["healthPrefix", "/_rota/", /a path like/],
      ["admin", "localhost", /host:port, \[ipv6\]:port, a port alone \(loopback\), or off/],
      ["admin", "1.2.3.4:70000", /host:port/],
      ["controlSocket", "rota.sock", /an absolute path, or off/],
      ["accessLog", "yes", /'common', 'combined' or 'off'/],
      ["shutdownDelay", "soon", /a duration like/],
    ] as const
  ) {
    assert.throws(() => resolveOptions({ app: "a", [key]: value }, context), rule, `${key} ${value}`);
  }
});

test("parseAddress() reads host:port, [ipv6]:port and a port alone as loopback", () => {
  assert.deepEqual(parseAddress("9100"), { hostname: "127.0.0.1", port: 9100 });
  assert.deepEqual(parseAddress("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(parseAddress("[::]:9100"), { hostname: "::", port: 9100 });
  assert.deepEqual(parseAddress("metrics.local:9100"), { hostname: "metrics.local", port: 9100 });
  for (const bad of ["", ":9100", "host:", "host:99999", "a b:1", "::1:9100"]) {
    assert.equal(parseAddress(bad), undefined, bad);
  }
});

test("parseArgs() reads rota status, reload and stop with the flags that find the rota", () => {
  assert.deepEqual(parseArgs(["status"]), { kind: "control", command: "status", options: {}, json: false });
  assert.deepEqual(parseArgs(["status", "--json", "--port", "9000"]), {
    kind: "control",
    command: "status",
    options: { port: "9000" },
    json: true,
  });
  assert.deepEqual(parseArgs(["reload", "--control-socket=/run/rota/a.sock"]), {
    kind: "control",
    command: "reload",
    options: { controlSocket: "/run/rota/a.sock" },
    json: false,
  });
  assert.deepEqual(parseArgs(["stop", "--config", "prod.json"]).kind, "control");
  assert.throws(() => parseArgs(["stop", "--workers", "2"]), /Unknown flag '--workers' for 'rota stop'/);
  assert.throws(() => parseArgs(["reload", "--json"]), /Unknown flag '--json' for 'rota reload'/);
  assert.throws(() => parseArgs(["status", "app.ts"]), /'rota status' takes no app module, got 'app.ts'/);
});

test("parseArgs() lets --access-log stand alone, taking the next argument only when it is one of its values", () => {
  assert.deepEqual(parseArgs(["serve", "app.ts", "--access-log"]).kind, "serve");
  assert.deepEqual((parseArgs(["serve", "--access-log", "app.ts"]) as { options: unknown }).options, {
    accessLog: "common",
    app: "app.ts",
  });
  assert.deepEqual((parseArgs(["serve", "app.ts", "--access-log", "combined"]) as { options: unknown }).options, {
    app: "app.ts",
    accessLog: "combined",
  });
  assert.deepEqual(
    (parseArgs(["serve", "app.ts", "--access-log", "--workers", "2"]) as { options: unknown }).options,
    { app: "app.ts", accessLog: "common", workers: "2" },
  );
  assert.deepEqual((parseArgs(["serve", "app.ts", "--access-log=off"]) as { options: unknown }).options, {
    app: "app.ts",
    accessLog: "off",
  });
});
