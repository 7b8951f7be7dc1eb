import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs } from "../../runtime/cli.ts";
import { parseDuration, resolveOptions } from "../../runtime/options.ts";
import { parseSupervisorMessage, parseWorkerMessage } from "../../runtime/protocol.ts";

const context = { parallelism: 3, isTerminal: false };

test("parseDuration() reads ms, s, m, h and plain milliseconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120000);
  assert.equal(parseDuration("250"), 250);
  assert.equal(parseDuration("soon"), undefined);
  assert.equal(parseDuration("-5s"), undefined);
});

test("resolveOptions() applies defaults, and explicit options win over the environment", () => {
  const defaults = resolveOptions({ app: "a.ts" }, {}, context);
  assert.deepEqual(defaults, {
    app: "a.ts",
    port: 8000,
    hostname: "127.0.0.1",
    workers: 3,
    gracefulTimeout: 5000,
    startupTimeout: 30000,
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
    config: {},
  });
  assert.equal(resolveOptions({ app: "a.ts", maxRequests: "500" }, {}, context).maxRequestsJitter, 250);
  assert.equal(resolveOptions({ app: "a.ts", maxMemory: "512MB" }, {}, context).maxMemory, 512 * 2 ** 20);
  const env = { PORT: "9000", ROTA_WORKERS: "5", ROTA_GRACEFUL_TIMEOUT: "2s" };
  const fromEnv = resolveOptions({ app: "a.ts", workers: 2 }, env, context);
  assert.equal(fromEnv.port, 9000);
  assert.equal(fromEnv.workers, 2);
  assert.equal(fromEnv.gracefulTimeout, 2000);
});

test("resolveOptions() rejects bad values with one line naming the option and value", () => {
  assert.throws(() => resolveOptions({ app: "a", workers: 0 }, {}, context), {
    name: "RangeError",
    message: "Cannot start server as 'workers' must be a positive integer: current value is 0",
  });
  assert.throws(
    () => resolveOptions({ app: "a", port: "70000" }, {}, context),
    /'port' must be an integer from 1 to 65535/,
  );
  assert.throws(
    () => resolveOptions({ app: "a" }, { ROTA_INIT_TIMEOUT: "later" }, context),
    /'init-timeout' must be a duration/,
  );
  assert.throws(
    () => resolveOptions({ app: "a", logFormat: "xml" }, {}, context),
    /'log-format' must be 'pretty' or 'json'/,
  );
  assert.throws(() => resolveOptions({}, {}, context), { code: "ERR_ROTA_USAGE" });
});

test("parseArgs() reads commands, flags in both forms, and refuses what it does not know", () => {
  assert.deepEqual(parseArgs(["serve", "app.ts", "--workers", "4", "--port=8080"]), {
    kind: "serve",
    options: { app: "app.ts", workers: "4", port: "8080" },
  });
  assert.deepEqual(parseArgs(["check", "app.ts"]), { kind: "check", app: "app.ts" });
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
