import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../runtime/log.ts";
import type { WorkerMessage } from "../../../runtime/protocol.ts";
import { ConfigClient } from "../../../runtime/worker/config_client.ts";
import { flush } from "../../_fake_clock.ts";

function client(reload: () => Promise<void> | undefined = () => undefined) {
  const sent: WorkerMessage[] = [];
  const lines: string[] = [];
  const config = new ConfigClient({
    initial: { version: 0, value: { a: 0 } },
    send: (message) => sent.push(message),
    reload,
    log: createLogger({ name: "test", write: (line) => lines.push(line) }),
  });
  return { config, sent, lines };
}

test("ConfigClient makes a version visible at once, then runs reload, then acknowledges", async () => {
  const order: string[] = [];
  let release!: () => void;
  const { config, sent } = client(() => {
    order.push(`reload sees ${config.view.version}`);
    return new Promise<void>((resolve) => (release = resolve));
  });
  config.apply(1, { a: 1 });
  assert.deepEqual([config.view.version, config.view.get()], [1, { a: 1 }]);
  await flush();
  assert.deepEqual(sent, [], "no acknowledgement before reload finished");
  release();
  await flush();
  assert.deepEqual(order, ["reload sees 1"]);
  assert.deepEqual(sent, [{ rota: 1, type: "config-ack", version: 1, ok: true }]);
});

test("ConfigClient reports a reload that throws, synchronously or not, and keeps the value", async () => {
  const { config, sent, lines } = client(() => {
    throw new Error("cannot apply");
  });
  config.apply(1, { a: 1 });
  config.apply(2, { a: 2 });
  await flush();
  assert.deepEqual(sent, [
    { rota: 1, type: "config-ack", version: 1, ok: false, message: "cannot apply" },
    { rota: 1, type: "config-ack", version: 2, ok: false, message: "cannot apply" },
  ]);
  assert.equal(config.view.version, 2);
  assert.match(lines.join("\n"), /reload hook failed for version 1: cannot apply/);
});

test("ConfigClient acknowledges an old or repeated version without running reload", async () => {
  let reloads = 0;
  const { config, sent } = client(() => Promise.resolve(void reloads++));
  config.apply(2, { a: 2 });
  config.apply(1, { a: 1 });
  config.apply(2, { a: 2 });
  await flush();
  assert.equal(reloads, 1);
  assert.deepEqual(config.view.get(), { a: 2 });
  assert.deepEqual(sent.map((m) => m.type === "config-ack" && m.version), [2, 1, 2]);
});

test("ConfigClient.view.publish() checks its input, asks the supervisor, and settles on its answer", async () => {
  const { config, sent } = client();
  await assert.rejects(config.view.publish("a string"), TypeError);
  await assert.rejects(config.view.publish(undefined), TypeError);
  await assert.rejects(config.view.publish({ a: 1 }, { ifVersion: 1.5 }), /'ifVersion' must be an integer/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(config.view.publish(cyclic), /not JSON/);
  assert.deepEqual(sent, []);

  const ok = config.view.publish({ a: 5 }, { ifVersion: 0 });
  const conflict = config.view.publish({ a: 6 }, { ifVersion: 0 });
  assert.deepEqual(sent, [
    { rota: 1, type: "publish", id: 1, value: { a: 5 }, ifVersion: 0 },
    { rota: 1, type: "publish", id: 2, value: { a: 6 }, ifVersion: 0 },
  ]);
  config.settle({
    rota: 1,
    type: "publish-result",
    id: 2,
    ok: false,
    code: "ERR_ROTA_CONFIG_CONFLICT",
    message: "stale",
  });
  config.settle({ rota: 1, type: "publish-result", id: 1, ok: true, version: 1, failed: [] });
  assert.deepEqual(await ok, { version: 1, failed: [] });
  await assert.rejects(conflict, { code: "ERR_ROTA_CONFIG_CONFLICT", message: "stale" });
});

test("ConfigClient.settle() rejects a refused publish with ERR_ROTA_CONFIG when the answer's code is not one of rota's", async () => {
  const { config } = client();
  const odd = config.view.publish({ a: 1 });
  const bare = config.view.publish({ a: 2 });
  config.settle({ rota: 1, type: "publish-result", id: 1, ok: false, code: "EWHATEVER", message: "no" } as never);
  config.settle({ rota: 1, type: "publish-result", id: 2, ok: false });
  await assert.rejects(odd, { code: "ERR_ROTA_CONFIG", message: "no" });
  await assert.rejects(bare, { code: "ERR_ROTA_CONFIG", message: "publish failed" });
});

test("ConfigClient.abandon() settles every waiting publish, and later ones, with ERR_ROTA_CONFIG", async () => {
  const { config } = client();
  const waiting = config.view.publish({ a: 1 });
  config.abandon();
  await assert.rejects(waiting, { code: "ERR_ROTA_CONFIG", message: /the supervisor went away/ });
  await assert.rejects(config.view.publish({ a: 2 }), { code: "ERR_ROTA_CONFIG" });
});
