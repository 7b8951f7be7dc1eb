import assert from "node:assert/strict";
import { test } from "node:test";
import type { Listener } from "../../../runtime/host.ts";
import { createLogger } from "../../../runtime/log.ts";
import { DRAIN_SETTLE_MS, drainServer } from "../../../runtime/worker/drain.ts";
import { FakeClock, flush } from "../../_fake_clock.ts";

function listener(closes: Promise<void>) {
  const calls: string[] = [];
  const fake: Listener = {
    stopAccepting: () => void calls.push("stopAccepting"),
    pause: () => Promise.resolve(void calls.push("pause")),
    resume: () => Promise.resolve(void calls.push("resume")),
    close: () => {
      calls.push("close");
      return closes;
    },
    closeAll: () => void calls.push("closeAll"),
  };
  return { fake, calls };
}

test("drainServer() stops accepting, settles, then closes and waits for connections and pending work", async () => {
  const clock = new FakeClock();
  const { fake, calls } = listener(Promise.resolve());
  let finishWork!: () => void;
  const work = new Promise<void>((resolve) => (finishWork = resolve));
  let result: boolean | undefined;
  void drainServer(fake, {
    clock,
    gracefulTimeout: 5000,
    pending: () => work,
    log: createLogger({ name: "t", write: () => {} }),
  }).then((r) => (result = r));
  await flush();
  assert.deepEqual(calls, ["stopAccepting"]);
  await clock.advance(DRAIN_SETTLE_MS);
  assert.deepEqual(calls, ["stopAccepting", "close"]);
  assert.equal(result, undefined, "waits for pending work");
  finishWork();
  await flush();
  assert.equal(result, true);
});

test("drainServer() cuts every connection once the graceful timeout passes", async () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const { fake, calls } = listener(new Promise(() => {}));
  let result: boolean | undefined;
  void drainServer(fake, {
    clock,
    gracefulTimeout: 2000,
    pending: () => Promise.resolve(),
    log: createLogger({ name: "t", write: (line) => lines.push(line) }),
  }).then((r) => (result = r));
  await clock.advance(2000);
  assert.equal(result, false);
  assert.deepEqual(calls, ["stopAccepting", "close", "closeAll"]);
  assert.match(lines.join("\n"), /graceful timeout of 2000ms passed/);
});

test("drainServer() cuts connections at a graceful timeout shorter than the settle, too", async () => {
  for (const gracefulTimeout of [0, 300, 500]) {
    const clock = new FakeClock();
    const { fake, calls } = listener(new Promise(() => {}));
    let result: boolean | undefined;
    void drainServer(fake, {
      clock,
      gracefulTimeout,
      pending: () => Promise.resolve(),
      log: createLogger({ name: "t", write: () => {} }),
    }).then((r) => (result = r));
    await clock.advance(10_000);
    assert.equal(result, false, `ended at a graceful timeout of ${gracefulTimeout} ms`);
    assert.deepEqual(calls, ["stopAccepting", "close", "closeAll"]);
  }
});

test("drainServer() waits for open WebSockets as for requests", async () => {
  const clock = new FakeClock();
  const { fake } = listener(Promise.resolve());
  let closeLast!: () => void;
  const idle = new Promise<void>((resolve) => (closeLast = resolve));
  let result: boolean | undefined;
  void drainServer(fake, {
    clock,
    gracefulTimeout: 5000,
    pending: () => Promise.resolve(),
    log: createLogger({ name: "t", write: () => {} }),
    sockets: { size: 1, idle: () => idle, goAway: () => Promise.reject(new Error("not at the timeout")) },
  }).then((r) => (result = r));
  await clock.advance(DRAIN_SETTLE_MS + 1000);
  assert.equal(result, undefined, "an open WebSocket keeps the drain waiting");
  closeLast();
  await flush();
  assert.equal(result, true);
});

test("drainServer() closes WebSockets with 1001 at the graceful timeout, before it cuts the connections", async () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const { fake, calls } = listener(new Promise(() => {}));
  let result: boolean | undefined;
  void drainServer(fake, {
    clock,
    gracefulTimeout: 2000,
    pending: () => Promise.resolve(),
    log: createLogger({ name: "t", write: (line) => lines.push(line) }),
    sockets: {
      size: 2,
      idle: () => new Promise(() => {}),
      goAway: () => Promise.resolve(void calls.push("goAway")),
    },
  }).then((r) => (result = r));
  await clock.advance(1999);
  assert.deepEqual(calls, ["stopAccepting", "close"], "open until the graceful timeout");
  await clock.advance(1);
  assert.equal(result, false);
  assert.deepEqual(calls, ["stopAccepting", "close", "goAway", "closeAll"]);
  assert.match(lines.join("\n"), /graceful timeout of 2000ms passed; closing 2 WebSockets with 1001 \(going away\)/);
});

test("drainServer() counts the grace already spent, and names the whole graceful timeout when it passes", async () => {
  const clock = new FakeClock();
  const { fake, calls } = listener(new Promise(() => {}));
  const lines: string[] = [];
  const log = createLogger({ name: "t", write: (line) => void lines.push(line) });
  const done = drainServer(fake, { clock, gracefulTimeout: 1000, spent: 250, pending: () => Promise.resolve(), log });
  await clock.advance(749);
  assert.ok(!calls.includes("closeAll"), "not before 750 ms");
  await clock.advance(1);
  assert.equal(await done, false);
  assert.ok(calls.includes("closeAll"));
  assert.match(lines.join("\n"), /graceful timeout of 1000ms passed/);
});
