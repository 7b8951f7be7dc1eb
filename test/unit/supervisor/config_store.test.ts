import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../runtime/log.ts";
import type { SupervisorMessage } from "../../../runtime/protocol.ts";
import { ConfigFile, type ConfigFileHost } from "../../../runtime/supervisor/config_file.ts";
import { ConfigStore, type ConfigTarget } from "../../../runtime/supervisor/config_store.ts";
import { FakeClock, flush } from "../../_fake_clock.ts";

function worker(slot: number) {
  const received: SupervisorMessage[] = [];
  const target: ConfigTarget = { key: {}, slot, generation: 0, pid: 100 + slot, send: (m) => received.push(m) };
  return { target, received };
}

/** A file that lives in memory: `text` is its content, `writes` what rota wrote. */
function memoryFile(text: string) {
  const state = { text, writes: [] as string[], onChange: () => {} };
  const host: ConfigFileHost = {
    readTextFile: () => Promise.resolve(state.text),
    writeTextFileAtomic: (_path, next) => {
      state.writes.push(next);
      state.text = next;
      return Promise.resolve();
    },
    watchFile: (_path, onChange) => {
      state.onChange = onChange;
      return () => (state.onChange = () => {});
    },
  };
  return { state, file: new ConfigFile(host, "c.json") };
}

function storeWith(targets: ConfigTarget[], file?: ConfigFile) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const store = new ConfigStore({
    initial: { n: 0 },
    initialVersion: 0,
    file,
    targets: () => targets,
    clock,
    ackTimeout: 1000,
    log: createLogger({ name: "test", write: (l) => lines.push(l) }),
  });
  return { store, clock, lines };
}

test("ConfigStore.publish() writes the file back, then resolves once every worker acknowledged", async () => {
  const [a, b] = [worker(0), worker(1)];
  const { state, file } = memoryFile('{"n": 0}');
  const { store } = storeWith([a.target, b.target], file);
  let result: unknown;
  void store.publish({ n: 1 }).then((r) => (result = r));
  await flush();
  assert.deepEqual(a.received, [{ rota: 1, type: "config", version: 1, value: { n: 1 } }]);
  assert.deepEqual(state.writes, ['{\n  "n": 1\n}\n'], "persisted before it is sent");
  store.acknowledge(a.target.key, 1, true);
  await flush();
  assert.equal(result, undefined, "one worker still has the old value");
  store.acknowledge(b.target.key, 1, true);
  await flush();
  assert.deepEqual(result, { version: 1, failed: [] });
  assert.deepEqual(store.current, { version: 1, value: { n: 1 } });
});

test("ConfigStore applies publishes one at a time and refuses a stale ifVersion", async () => {
  const a = worker(0);
  const { store } = storeWith([a.target]);
  const first = store.publish({ n: 1 }, 0);
  const second = store.publish({ n: 2 }, 0).catch((error) => error);
  const third = store.publish({ n: 3 }, 1);
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
  const [a, b, c] = [worker(0), worker(1), worker(2)];
  const { store, clock } = storeWith([a.target, b.target, c.target]);
  const publishing = store.publish({ n: 1 });
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

test("ConfigStore.refresh() publishes a changed file, and ignores an unchanged or malformed one", async () => {
  const a = worker(0);
  const { state, file } = memoryFile('{"n": 0}');
  const { store, lines } = storeWith([a.target], file);
  await store.refresh();
  assert.equal(a.received.length, 0, "same value: nothing to send");
  state.text = "{ nope";
  await store.refresh();
  assert.ok(
    lines.some((l) => l.includes("Cannot read configuration file 'c.json'") && l.includes("keeping version 0")),
  );
  state.text = '{"n": 5}';
  const refreshing = store.refresh();
  await flush();
  store.acknowledge(a.target.key, 1, true);
  await refreshing;
  assert.deepEqual(store.current, { version: 1, value: { n: 5 } });
});

test("ConfigStore.watch() refreshes when the file changes", async () => {
  const a = worker(0);
  const { state, file } = memoryFile('{"n": 0}');
  const { store } = storeWith([a.target], file);
  const unwatch = store.watch();
  state.text = '{"n": 7}';
  state.onChange();
  await flush();
  assert.deepEqual(a.received, [{ rota: 1, type: "config", version: 1, value: { n: 7 } }]);
  unwatch();
});

test("ConfigStore refuses a value larger than MAX_CONFIG_BYTES and keeps the current one", async () => {
  const { store } = storeWith([]);
  const error = await store.publish({ blob: "x".repeat(70 * 1024) }).catch((e) => e);
  assert.equal(error.code, "ERR_ROTA_CONFIG");
  assert.match(error.message, /the limit is 65536/);
  assert.deepEqual(store.current, { version: 0, value: { n: 0 } });
});

test("ConfigStore starts its versions at the time, so that they are unique across restarts", () => {
  const before = Date.now();
  const store = new ConfigStore({
    initial: {},
    targets: () => [],
    clock: new FakeClock(),
    log: createLogger({ name: "test", write: () => {} }),
  });
  assert.ok(store.current.version >= before && store.current.version <= Date.now());
});
