import assert from "node:assert/strict";
import { test } from "node:test";
import { RotaError } from "../../runtime/errors.ts";
import { createLogger } from "../../runtime/log.ts";
import type { ControlHandler, OpsHost, ServeHttpOptions } from "../../runtime/ops/ops_host.ts";
import { type OperatedSupervisor, startOperations } from "../../runtime/ops/serve_ops.ts";
import { Listeners, type RotaLifecycle } from "../../runtime/supervisor/events.ts";
import { FakeClock, flush } from "../_fake_clock.ts";
import { snapshot } from "../_snapshot.ts";

/** A supervisor that the test drives through its lifecycle. */
class FakeSupervisor implements OperatedSupervisor {
  lifecycle = new Listeners<RotaLifecycle>((error) => {
    throw error;
  });
  reloading = false;
  closes = 0;
  snapshot = () => snapshot();
  reload(): Promise<void> {
    this.reloading = true;
    this.lifecycle.emit({ type: "reloading" });
    return Promise.resolve();
  }
  close(): Promise<number> {
    this.closes++;
    return Promise.resolve(0);
  }
  onLifecycle(listener: (event: RotaLifecycle) => void): () => void {
    return this.lifecycle.add(listener);
  }
}

function fakeOps(overrides: Partial<OpsHost> = {}) {
  const served: ServeHttpOptions[] = [];
  const controls = new Map<string, ControlHandler>();
  const notified: string[] = [];
  const closed: string[] = [];
  const ops: OpsHost = {
    serveHttp(options) {
      served.push(options);
      return Promise.resolve({ port: options.port || 41234, close: () => (closed.push("admin"), Promise.resolve()) });
    },
    listenControl(path, handler) {
      controls.set(path, handler);
      return Promise.resolve({ close: () => (closed.push(path), Promise.resolve()) });
    },
    callControl: () => Promise.reject(new Error("not used")),
    notify: (state) => (notified.push(state), Promise.resolve()),
    uid: () => 1000,
    processAlive: () => false,
    ...overrides,
  };
  return { ops, served, controls, notified, closed };
}

function start(
  ops: OpsHost,
  options: Partial<{ admin: string; controlSocket: string; healthPrefix: string }> = {},
  env: Record<string, string> = {},
) {
  const lines: string[] = [];
  const supervisor = new FakeSupervisor();
  const running = startOperations({
    ops,
    supervisor,
    options: { admin: "off", controlSocket: "", port: 8000, healthPrefix: "/_rota", ...options },
    env,
    pid: 42,
    clock: new FakeClock(),
    log: createLogger({ name: "supervisor", write: (line) => lines.push(line) }),
  });
  return { running, supervisor, lines };
}

test("startOperations() serves the admin routes on the address asked, loopback for a port alone", async () => {
  const fake = fakeOps();
  const { running, lines } = start(fake.ops, { admin: "127.0.0.1:0" });
  const operations = await running;
  assert.equal(operations.adminUrl, "http://127.0.0.1:41234");
  assert.deepEqual([fake.served[0].hostname, fake.served[0].port], ["127.0.0.1", 0]);
  const metrics = await fake.served[0].fetch(new Request("http://x/metrics"));
  assert.match(await metrics.text(), /^# HELP rota_info/);
  const ready = await fake.served[0].fetch(new Request("http://x/_rota/ready"));
  assert.equal(ready.status, 200);
  assert.match(lines.join("\n"), /admin listening on http:\/\/127\.0\.0\.1:41234\/ \(status page\)/);
  await operations.close();
  assert.ok(fake.closed.includes("admin"));
});

test("startOperations() listens on the default control socket, warns and goes on when it cannot, and fails when the path was named", async () => {
  const fake = fakeOps();
  const operations = await start(fake.ops, {}, { XDG_RUNTIME_DIR: "/run/user/1000" }).running;
  assert.equal(operations.controlPath, "/run/user/1000/rota/8000.sock");
  assert.deepEqual([...fake.controls.keys()], ["/run/user/1000/rota/8000.sock"]);
  await operations.close();
  assert.deepEqual(fake.closed, ["/run/user/1000/rota/8000.sock"]);

  const refusing = fakeOps({
    listenControl: (path) => Promise.reject(new RotaError("ERR_ROTA_CONTROL", `Cannot listen on '${path}': taken`)),
  });
  const fallback = start(refusing.ops);
  const withoutControl = await fallback.running;
  assert.equal(withoutControl.controlPath, undefined);
  assert.match(
    fallback.lines.join("\n"),
    /no control socket \(rota status, reload and stop will not reach this rota\)/,
  );
  await assert.rejects(start(refusing.ops, { controlSocket: "/run/rota/a.sock", admin: "0" }).running, {
    code: "ERR_ROTA_CONTROL",
  });
  assert.deepEqual(refusing.closed, ["admin"], "what had started is closed again");
  assert.equal((await start(fakeOps().ops, { controlSocket: "off" }).running).controlPath, undefined);
});

test("the control socket's reload waits until the rolling reload is over and names the slots that failed", async () => {
  const fake = fakeOps();
  const { running, supervisor } = start(fake.ops, { controlSocket: "/c.sock" });
  await running;
  const handle = fake.controls.get("/c.sock")!;
  let answered: unknown;
  const reload = handle({ command: "reload" }).then((answer) => (answered = answer));
  await flush();
  assert.equal(answered, undefined, "not over yet");
  supervisor.reloading = false;
  supervisor.lifecycle.emit({ type: "reloaded", failed: [1] });
  await reload;
  assert.deepEqual(answered, { ok: true, command: "reload", failed: [1] });
  assert.deepEqual(await handle({ command: "stop" }), { ok: true, command: "stop" });
  assert.equal(supervisor.closes, 1);
});

test("startOperations() tells systemd the lifecycle in order, and close() waits for the last state to go out", async () => {
  let release!: () => void;
  const sent: string[] = [];
  const fake = fakeOps({
    notify: (state) => {
      sent.push(state);
      return state.startsWith("STOPPING") ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
    },
    monotonicMicros: () => 123456789n,
  });
  const { running, supervisor } = start(fake.ops, { controlSocket: "off" }, { NOTIFY_SOCKET: "/run/systemd/notify" });
  const operations = await running;
  const status = "1 of 2 workers ready, 1 failing init, 1241 requests, config v4, 1 crash";
  supervisor.lifecycle.emit({ type: "started", ready: 2, workers: 2 });
  supervisor.lifecycle.emit({ type: "reloading" });
  supervisor.lifecycle.emit({ type: "reloaded", failed: [] });
  supervisor.lifecycle.emit({ type: "stopping", delayMs: 0 });
  supervisor.lifecycle.emit({ type: "stopped", code: 0 });
  await flush();
  let closed = false;
  const closing = operations.close().then(() => (closed = true));
  await flush();
  assert.equal(closed, false, "STOPPING=1 is still on its way");
  release();
  await closing;
  assert.deepEqual(sent, [
    `READY=1\nSTATUS=${status}\nMAINPID=42`,
    `RELOADING=1\nSTATUS=${status}\nMONOTONIC_USEC=123456789`,
    `READY=1\nSTATUS=${status}`,
    `STOPPING=1\nSTATUS=${status}`,
  ]);
});

test("startOperations() sends systemd nothing without NOTIFY_SOCKET", async () => {
  const fake = fakeOps();
  const { running, supervisor } = start(fake.ops, { controlSocket: "off" });
  await running;
  supervisor.lifecycle.emit({ type: "started", ready: 1, workers: 1 });
  await flush();
  assert.deepEqual(fake.notified, []);
});
