import assert from "node:assert/strict";
import { test } from "node:test";
import { type InitEvent, InitGate, InitUnavailableError } from "../../../runtime/worker/init_gate.ts";
import { FakeClock, flush } from "../../_fake_clock.ts";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

function gateWith(init: (attempt: number, signal: AbortSignal) => Promise<string> | string, options = {}) {
  const clock = new FakeClock();
  const events: InitEvent[] = [];
  const gate = new InitGate<string>({
    init: ({ attempt, signal }) => init(attempt, signal),
    clock,
    timeout: 10_000,
    wait: 2_000,
    retryInterval: 1_000,
    backoff: { minTimeout: 4_000, maxTimeout: 60_000, multiplier: 2, jitter: 0 },
    hangGrace: 3_000,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { clock, gate, events };
}

test("InitGate.start() starts init at once, before any request", async () => {
  const { gate, events } = gateWith(() => "db");
  await gate.start();
  assert.deepEqual(gate.state, { kind: "ready", attempt: 1, state: "db" });
  assert.equal(await gate.acquire(), "db");
  assert.deepEqual(events.map((e) => e.type), ["attempt", "ready"]);
});

test("InitGate.acquire() waits for a running init, and concurrent requests share one attempt", async () => {
  let calls = 0;
  const pending = deferred<string>();
  const { gate } = gateWith(() => {
    calls++;
    return pending.promise;
  });
  void gate.start();
  const requests = [gate.acquire(), gate.acquire(), gate.acquire()];
  pending.resolve("db");
  assert.deepEqual(await Promise.all(requests), ["db", "db", "db"]);
  assert.equal(calls, 1);
});

test("InitGate.acquire() gives up waiting after `wait` with a pending error, while init carries on", async () => {
  const pending = deferred<string>();
  const { gate, clock } = gateWith(() => pending.promise);
  void gate.start();
  const request = gate.acquire();
  const outcome = request.catch((error) => error);
  await clock.advance(2_000);
  const error = await outcome;
  assert.ok(error instanceof InitUnavailableError);
  assert.equal(error.code, "ERR_ROTA_INIT_PENDING");
  assert.equal(error.retryAfterSeconds, 2);
  pending.resolve("db");
  await flush();
  assert.equal(await gate.acquire(), "db");
});

test("InitGate keeps the worker up after a failure and answers with Retry-After until the retry interval passed", async () => {
  const { gate, clock } = gateWith((attempt) => {
    if (attempt === 1) throw new Error("database down");
    return "db";
  });
  await gate.start();
  assert.equal(gate.state.kind, "failed");
  const refused = await gate.acquire().catch((error) => error);
  assert.ok(refused instanceof InitUnavailableError);
  assert.equal(refused.code, "ERR_ROTA_INIT_FAILED");
  assert.equal(refused.retryAfterSeconds, 1);
  assert.equal(gate.attempts, 1, "a request inside the retry interval does not retry");
  await clock.advance(1_000);
  assert.equal(await gate.acquire(), "db", "the next request after the interval re-runs init");
  assert.equal(gate.attempts, 2);
});

test("InitGate retries after a failure triggered by requests with single flight", async () => {
  let calls = 0;
  const second = deferred<string>();
  const { gate, clock } = gateWith((attempt) => {
    calls++;
    if (attempt === 1) throw new Error("down");
    return second.promise;
  });
  await gate.start();
  await clock.advance(1_000);
  const requests = [gate.acquire(), gate.acquire()];
  second.resolve("db");
  assert.deepEqual(await Promise.all(requests), ["db", "db"]);
  assert.equal(calls, 2);
});

test("InitGate retries in the background with exponential back-off, with no traffic", async () => {
  const { gate, clock, events } = gateWith((attempt) => {
    if (attempt < 4) throw new Error(`down ${attempt}`);
    return "db";
  });
  await gate.start();
  const failedAt = () => events.filter((e) => e.type === "failed").map((e) => (e as { retryInMs: number }).retryInMs);
  assert.equal(gate.attempts, 1);
  await clock.advance(3_999);
  assert.equal(gate.attempts, 1);
  await clock.advance(1);
  assert.equal(gate.attempts, 2);
  await clock.advance(8_000);
  assert.equal(gate.attempts, 3);
  await clock.advance(16_000);
  assert.equal(gate.attempts, 4);
  assert.deepEqual(failedAt(), [4_000, 8_000, 16_000]);
  assert.equal(gate.state.kind, "ready");
  assert.equal(clock.pending, 0, "no timer left once ready");
});

test("InitGate aborts an attempt's signal after `timeout` and counts it as a failure", async () => {
  let seen: AbortSignal | undefined;
  const { gate, clock, events } = gateWith((_attempt, signal) => {
    seen = signal;
    return new Promise<string>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  });
  void gate.start();
  await clock.advance(10_000);
  assert.ok(seen?.aborted);
  assert.equal(gate.state.kind, "failed");
  const failed = events.find((e) => e.type === "failed") as { error: { code: string } };
  assert.equal(failed.error.code, "ERR_ROTA_INIT_TIMEOUT");
  await clock.advance(3_000);
  assert.ok(!events.some((e) => e.type === "hung"), "an attempt that honoured its signal is not hung");
});

test("InitGate reports an attempt that ignores its signal as hung, and never starts a second init beside it", async () => {
  const { gate, clock, events } = gateWith(() => new Promise<string>(() => {}));
  void gate.start();
  await clock.advance(10_000);
  assert.equal(gate.state.kind, "failed");
  await clock.advance(1_000);
  const refused = await gate.acquire().catch((error) => error);
  assert.ok(refused instanceof InitUnavailableError);
  assert.equal(gate.attempts, 1, "no second attempt while the first still runs");
  await clock.advance(2_000);
  assert.deepEqual(events.filter((e) => e.type === "hung"), [{ type: "hung", attempt: 1 }]);
  await clock.advance(30_000);
  assert.equal(gate.attempts, 1);
});

test("InitGate.close() stops background retries", async () => {
  const { gate, clock } = gateWith(() => {
    throw new Error("down");
  });
  await gate.start();
  gate.close();
  await clock.advance(120_000);
  assert.equal(gate.attempts, 1);
  assert.equal(gate.state.kind, "closed");
});
