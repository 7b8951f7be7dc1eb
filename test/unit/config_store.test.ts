import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigStore, type ConfigTarget } from "../../runtime/config_store.ts";
import { createLogger } from "../../runtime/log.ts";
import type { SupervisorMessage } from "../../runtime/protocol.ts";
import { FakeClock, flush } from "../_fake_clock.ts";

function worker(slot: number) {
  const received: SupervisorMessage[] = [];
  const target: ConfigTarget = { key: {}, slot, generation: 0, pid: 100 + slot, send: (m) => received.push(m) };
  return { target, received };
}

function storeWith(options: { persist?: (text: string) => Promise<void> } = {}) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const store = new ConfigStore({
    initial: { n: 0 },
    clock,
    ackTimeout: 1000,
    log: createLogger({ name: "test", write: (l) => lines.push(l) }),
    ...options,
  });
  return { store, clock, lines };
}

test("ConfigStore.publish() resolves once every worker acknowledged, with nobody failed", async () => {
  const written: string[] = [];
  const { store } = storeWith({ persist: (text) => Promise.resolve(void written.push(text)) });
  const [a, b] = [worker(0), worker(1)];
  let result: unknown;
  void store.publish({ n: 1 }, undefined, () => [a.target, b.target]).then((r) => (result = r));
  await flush();
  assert.deepEqual(a.received, [{ rota: 1, type: "config", version: 1, value: { n: 1 } }]);
  assert.deepEqual(written, ['{\n  "n": 1\n}\n'], "persisted before it is sent");
  store.acknowledge(a.target.key, 1, true);
  await flush();
  assert.equal(result, undefined, "one worker still has the old value");
  store.acknowledge(b.target.key, 1, true);
  await flush();
  assert.deepEqual(result, { version: 1, failed: [] });
  assert.deepEqual(store.current, { version: 1, value: { n: 1 } });
});

test("ConfigStore applies publishes one at a time and refuses a stale ifVersion", async () => {
  const { store } = storeWith();
  const a = worker(0);
  const first = store.publish({ n: 1 }, 0, () => [a.target]);
  const second = store.publish({ n: 2 }, 0, () => [a.target]).catch((error) => error);
  const third = store.publish({ n: 3 }, 1, () => [a.target]);
  await flush();
  assert.equal(a.received.length, 1, "the second waits for the first");
  store.acknowledge(a.target.key, 1, true);
  assert.deepEqual(await first, { version: 1, failed: [] });
  const conflict = await second;
  assert.equal(conflict.code, "ERR_ROTA_CONFIG_CONFLICT");
  assert.match(conflict.message, /current version is 1, not 0/);
  await flush();
  store.acknowledge(a.target.key, 2, true);
  assert.deepEqual(await third, { version: 2, failed: [] });
});

test("ConfigStore reports workers whose reload failed, timed out or exited", async () => {
  const { store, clock } = storeWith();
  const [a, b, c] = [worker(0), worker(1), worker(2)];
  const publishing = store.publish({ n: 1 }, undefined, () => [a.target, b.target, c.target]);
  await flush();
  store.acknowledge(a.target.key, 1, false, "bad value");
  store.forget(b.target.key);
  await clock.advance(1000);
  assert.deepEqual(await publishing, {
    version: 1,
    failed: [
      { slot: 0, generation: 0, pid: 100, reason: "reload-failed", message: "bad value" },
      { slot: 1, generation: 0, pid: 101, reason: "exited" },
      { slot: 2, generation: 0, pid: 102, reason: "timeout" },
    ],
  });
});

test("ConfigStore.adoptFile() publishes a changed file, and ignores an unchanged or malformed one", async () => {
  const { store, lines } = storeWith();
  const a = worker(0);
  await store.adoptFile('{"n": 0}', "c.json", () => [a.target]);
  assert.equal(a.received.length, 0, "same value: nothing to send");
  await store.adoptFile("{ nope", "c.json", () => [a.target]);
  assert.ok(
    lines.some((l) => l.includes("Cannot read configuration file 'c.json'") && l.includes("keeping version 0")),
  );
  const adopting = store.adoptFile('{"n": 5}', "c.json", () => [a.target]);
  await flush();
  store.acknowledge(a.target.key, 1, true);
  await adopting;
  assert.deepEqual(store.current, { version: 1, value: { n: 5 } });
});

test("ConfigStore refuses a value larger than MAX_CONFIG_BYTES and keeps the current one", async () => {
  const { store } = storeWith();
  const error = await store.publish({ blob: "x".repeat(70 * 1024) }, undefined, () => []).catch((e) => e);
  assert.equal(error.code, "ERR_ROTA_CONFIG");
  assert.match(error.message, /the limit is 65536/);
  assert.deepEqual(store.current, { version: 0, value: { n: 0 } });
});
