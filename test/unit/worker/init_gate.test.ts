import assert from "node:assert/strict";
import { test } from "node:test";
import { type InitEvent, InitGate, InitUnavailableError, retrySpacing } from "../../../runtime/worker/init_gate.ts";
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
    jitter: 0,
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

test("InitGate keeps the worker up after a failure and answers 503 with Retry-After until the next attempt may start", async () => {
  const { gate, clock } = gateWith((attempt) => {
    if (attempt === 1) throw new Error("database down");
    return "db";
  });
  await gate.start();
  assert.equal(gate.state.kind, "failed");
  await clock.advance(200);
  const refused = await gate.acquire().catch((error) => error);
  assert.ok(refused instanceof InitUnavailableError);
  assert.equal(refused.code, "ERR_ROTA_INIT_FAILED");
  assert.equal(refused.retryAfterSeconds, 1);
  assert.equal(gate.attempts, 1, "a request before the next attempt may start does not retry");
  await clock.advance(800);
  assert.equal(await gate.acquire(), "db", "once it may, the attempt runs (a request or the gate starts it)");
  assert.equal(gate.attempts, 2);
});

test("InitGate retries after a failure triggered by requests with single flight", async () => {
  let calls = 0;
  const second = deferred<string>();
  const { gate, clock } = gateWith((attempt) => {
    calls++;
    if (attempt === 1) throw new Error("down");
    return second.promise;
  }, { jitter: 1, random: () => 0.99 });
  await gate.start();
  await clock.advance(1_000);
  const requests = [gate.acquire(), gate.acquire()];
  second.resolve("db");
  assert.deepEqual(await Promise.all(requests), ["db", "db"]);
  assert.equal(calls, 2);
});

test("InitGate retries a slow failing init back to back: the rule limits how often attempts start", async () => {
  const started: number[] = [];
  const { gate, clock } = gateWith(async (attempt) => {
    started.push(clock.now());
    await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 1_000));
    if (attempt <= 3) throw new Error(`down ${attempt}`);
    return "db";
  });
  void gate.start();
  // A request every 50 ms, as in the seed's scenario: the first answer comes at (F+1)·D.
  let firstOk: number | undefined;
  for (let t = 0; t < 6_000 && firstOk === undefined; t += 50) {
    void gate.acquire().then(() => (firstOk ??= clock.now()), () => {});
    await clock.advance(50);
  }
  assert.deepEqual(started, [0, 1_000, 2_000, 3_000]);
  assert.equal(firstOk, 4_000);
});

test("InitGate starts a fast-failing init at most once per interval, and the interval doubles after three failures", async () => {
  const started: number[] = [];
  const { gate, clock } = gateWith(() => {
    started.push(clock.now());
    throw new Error("refused");
  });
  await gate.start();
  for (let t = 0; t < 20_000; t += 10) {
    void gate.acquire().catch(() => {});
    await clock.advance(10);
  }
  assert.deepEqual(started, [0, 1_000, 2_000, 3_000, 5_000, 9_000, 17_000]);
});

test("InitGate retries by itself with no traffic, on the same schedule, and stops once ready", async () => {
  const { gate, clock, events } = gateWith((attempt) => {
    if (attempt < 6) throw new Error(`down ${attempt}`);
    return "db";
  });
  await gate.start();
  await clock.advance(30_000);
  const failed = events.filter((e) => e.type === "failed") as Array<{ nextAttemptInMs: number }>;
  assert.deepEqual(failed.map((e) => e.nextAttemptInMs), [1_000, 1_000, 1_000, 2_000, 4_000]);
  assert.equal(gate.state.kind, "ready");
  assert.equal(gate.attempts, 6);
  assert.equal(clock.pending, 0, "no timer left once ready");
});

test("retrySpacing() is one second for three failures, then doubles up to the maximum", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 60].map((f) => retrySpacing(f)), [
    1_000,
    1_000,
    1_000,
    2_000,
    4_000,
    8_000,
    16_000,
    30_000,
    30_000,
    30_000,
  ]);
  assert.equal(retrySpacing(2, { retryInterval: 500, steadyRetries: 1, maxRetryInterval: 600 }), 600);
});

test("InitGate aborts an attempt's signal after `timeout`, counts it as a failure, and retries at once", async () => {
  const signals: AbortSignal[] = [];
  const { gate, clock, events } = gateWith((_attempt, signal) => {
    signals.push(signal);
    return new Promise<string>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  });
  void gate.start();
  await clock.advance(10_000);
  assert.ok(signals[0].aborted);
  const failed = events.find((e) => e.type === "failed") as { error: { code: string } };
  assert.equal(failed.error.code, "ERR_ROTA_INIT_TIMEOUT");
  assert.equal(gate.attempts, 2, "the next attempt may start: the first started ten seconds ago");
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

test("InitGate delays the retries it starts itself by a random share of at most `jitter` of the interval", async () => {
  for (const [random, expected] of [[0, 1_000], [0.5, 1_050], [0.999, 1_100]] as const) {
    const { gate, clock } = gateWith((attempt) => {
      if (attempt === 1) throw new Error("down");
      return "db";
    }, { jitter: 0.1, random: () => random });
    await gate.start();
    await clock.advance(expected - 1);
    assert.equal(gate.attempts, 1, `not before ${expected} ms`);
    await clock.advance(1);
    assert.equal(gate.attempts, 2, `at ${expected} ms`);
  }
});

test("InitGate.settled() waits for an attempt that ignored its signal, even after close()", async () => {
  const hanging = deferred<string>();
  const { gate, clock } = gateWith(() => hanging.promise);
  void gate.start();
  await clock.advance(10_000);
  gate.close();
  let settled = false;
  void gate.settled().then(() => (settled = true));
  await flush();
  assert.equal(settled, false, "the first init still runs");
  hanging.resolve("late");
  await flush();
  assert.equal(settled, true);
});
