import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createControlHandler,
  defaultControlPath,
  encodeControl,
  parseControlRequest,
  parseControlResponse,
} from "../../runtime/ops/control.ts";
import { snapshot } from "../_snapshot.ts";

test("encodeControl() writes one JSON line marked rota v1 that parses back", () => {
  const line = encodeControl({ command: "reload" });
  assert.equal(line, '{"rota":1,"command":"reload"}\n');
  assert.deepEqual(parseControlRequest(line.trim()), { ok: true, value: { command: "reload" } });
  const answer = encodeControl({ ok: true, command: "status", snapshot: snapshot() });
  assert.equal(answer.indexOf("\n"), answer.length - 1, "one line");
  const parsed = parseControlResponse(answer.trim());
  assert.ok(parsed.ok && parsed.value.ok && parsed.value.command === "status");
  assert.equal(parsed.value.snapshot.configVersion, 4);
});

test("parseControlRequest() says why a line is not a request", () => {
  assert.deepEqual(parseControlRequest("{"), { ok: false, reason: "not JSON" });
  assert.deepEqual(parseControlRequest("[1]"), { ok: false, reason: "not an object" });
  assert.deepEqual(parseControlRequest('{"command":"stop"}'), { ok: false, reason: "not a rota v1 message" });
  assert.deepEqual(parseControlRequest('{"rota":1,"command":"restart"}'), {
    ok: false,
    reason: 'unknown command "restart": expected status, reload, stop',
  });
});

test("parseControlResponse() reads errors and refuses half answers", () => {
  assert.deepEqual(
    parseControlResponse('{"rota":1,"ok":false,"error":{"code":"ERR_ROTA_USAGE","message":"no"}}'),
    { ok: true, value: { ok: false, error: { code: "ERR_ROTA_USAGE", message: "no" } } },
  );
  assert.equal(parseControlResponse('{"rota":1,"ok":true,"command":"status"}').ok, false);
  assert.equal(parseControlResponse('{"rota":1,"ok":false}').ok, false);
  assert.equal(parseControlResponse('{"rota":1,"ok":"yes"}').ok, false);
});

test("defaultControlPath() uses XDG_RUNTIME_DIR when set, else a per-user directory in /tmp", () => {
  assert.equal(
    defaultControlPath({ env: { XDG_RUNTIME_DIR: "/run/user/1000/" }, uid: 1000, port: 8000 }),
    "/run/user/1000/rota/8000.sock",
  );
  assert.equal(defaultControlPath({ env: {}, uid: 1000, port: 8080 }), "/tmp/rota-1000/8080.sock");
  assert.equal(defaultControlPath({ env: { XDG_RUNTIME_DIR: "relative" }, uid: 0, port: 1 }), "/tmp/rota-0/1.sock");
});

test("createControlHandler() answers status from the snapshot, waits for reload, and starts stop", async () => {
  const calls: string[] = [];
  let finishReload!: () => void;
  const handle = createControlHandler({
    snapshot: () => snapshot({ configVersion: 9 }),
    reload: () => new Promise<void>((resolve) => (calls.push("reload"), (finishReload = resolve))),
    stop: () => void calls.push("stop"),
  });
  const status = await handle({ command: "status" });
  assert.ok(status.ok && status.command === "status" && status.snapshot.configVersion === 9);
  let reloaded = false;
  const reload = handle({ command: "reload" }).then((answer) => ((reloaded = true), answer));
  await Promise.resolve();
  assert.equal(reloaded, false, "the answer waits for the reload");
  finishReload();
  assert.deepEqual(await reload, { ok: true, command: "reload" });
  assert.deepEqual(await handle({ command: "stop" }), { ok: true, command: "stop" });
  assert.deepEqual(calls, ["reload", "stop"]);
});

test("a reload answer names the slots whose replacement failed, and only when some did", async () => {
  const handle = createControlHandler({
    snapshot: () => snapshot(),
    reload: () => Promise.resolve({ failed: [0, 2] }),
    stop: () => {},
  });
  const answer = await handle({ command: "reload" });
  assert.deepEqual(answer, { ok: true, command: "reload", failed: [0, 2] });
  assert.deepEqual(parseControlResponse(encodeControl(answer).trim()), { ok: true, value: answer });
  assert.equal(parseControlResponse('{"rota":1,"ok":true,"command":"reload","failed":"0"}').ok, false);
});
