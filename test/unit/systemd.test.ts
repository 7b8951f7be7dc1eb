import assert from "node:assert/strict";
import { test } from "node:test";
import { notifyState, notifyTarget, statusLine, SystemdNotifier, watchdogInterval } from "../../runtime/ops/systemd.ts";
import { FakeClock, flush } from "../_fake_clock.ts";
import { snapshot, worker } from "../_snapshot.ts";

function notifier(env: Record<string, string>, send?: (state: string) => Promise<void>) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const warnings: string[] = [];
  const n = new SystemdNotifier({
    env,
    pid: 42,
    clock,
    send: send ?? ((state) => (sent.push(state), Promise.resolve())),
    warn: (message) => warnings.push(message),
  });
  return { n, clock, sent, warnings };
}

test("notifyTarget() reads a path, an abstract name, nothing, or something rota does not speak", () => {
  assert.deepEqual(notifyTarget({}), { kind: "none" });
  assert.deepEqual(notifyTarget({ NOTIFY_SOCKET: "/run/systemd/notify" }), {
    kind: "path",
    path: "/run/systemd/notify",
  });
  assert.deepEqual(notifyTarget({ NOTIFY_SOCKET: "@sd/notify" }), { kind: "abstract", name: "sd/notify" });
  assert.deepEqual(notifyTarget({ NOTIFY_SOCKET: "vsock:2:1234" }), { kind: "unsupported", value: "vsock:2:1234" });
});

test("watchdogInterval() is half of WATCHDOG_USEC, and only for the pid it names", () => {
  assert.equal(watchdogInterval({ WATCHDOG_USEC: "30000000" }, 42), 15_000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42), 15_000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 42), undefined);
  assert.equal(watchdogInterval({}, 42), undefined);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: "0" }, 42), undefined);
});

test("notifyState() joins assignments and keeps each value on its line", () => {
  assert.equal(notifyState([["READY", 1], ["STATUS", "a\nb"]]), "READY=1\nSTATUS=a b");
});

test("SystemdNotifier sends MAINPID with the first READY only, then RELOADING and STOPPING in order", async () => {
  const { n, sent } = notifier({ NOTIFY_SOCKET: "/run/notify" });
  await n.ready("2 of 2 workers ready");
  await n.reloading("reloading");
  await n.ready("2 of 2 workers ready");
  await n.status("busy");
  await n.stopping("stopping");
  assert.deepEqual(sent, [
    "READY=1\nSTATUS=2 of 2 workers ready\nMAINPID=42",
    "RELOADING=1\nSTATUS=reloading",
    "READY=1\nSTATUS=2 of 2 workers ready",
    "STATUS=busy",
    "STOPPING=1\nSTATUS=stopping",
  ]);
});

test("SystemdNotifier beats WATCHDOG=1 at half the interval from READY until STOPPING", async () => {
  const { n, clock, sent } = notifier({ NOTIFY_SOCKET: "/run/notify", WATCHDOG_USEC: "2000000" });
  await clock.advance(5_000);
  assert.deepEqual(sent, [], "no beat before READY");
  await n.ready("ok");
  await clock.advance(999);
  assert.equal(sent.filter((s) => s === "WATCHDOG=1").length, 0);
  await clock.advance(1);
  await clock.advance(2_000);
  assert.equal(sent.filter((s) => s === "WATCHDOG=1").length, 3);
  await n.stopping("bye");
  await clock.advance(10_000);
  assert.equal(sent.filter((s) => s === "WATCHDOG=1").length, 3);
  assert.equal(clock.pending, 0);
});

test("SystemdNotifier does nothing without NOTIFY_SOCKET", async () => {
  const { n, clock, sent, warnings } = notifier({ WATCHDOG_USEC: "2000000" });
  await n.ready("ok");
  await clock.advance(10_000);
  assert.deepEqual(sent, []);
  assert.deepEqual(warnings, []);
  assert.equal(n.enabled, false);
});

test("SystemdNotifier warns once and stops trying after a failed delivery", async () => {
  let calls = 0;
  const { n, clock, warnings } = notifier({ NOTIFY_SOCKET: "/run/notify", WATCHDOG_USEC: "2000000" }, () => {
    calls++;
    return Promise.reject(new Error("systemd-notify is not installed"));
  });
  await n.ready("ok");
  await n.status("again");
  await clock.advance(10_000);
  await flush();
  assert.equal(calls, 1);
  assert.deepEqual(warnings, ["cannot notify systemd (systemd-notify is not installed): not telling it anything more"]);
  assert.equal(clock.pending, 0, "the watchdog stopped");
});

test("SystemdNotifier warns once about a NOTIFY_SOCKET it cannot use", async () => {
  const { n, sent, warnings } = notifier({ NOTIFY_SOCKET: "vsock:2:9" });
  await n.ready("ok");
  await n.stopping("bye");
  assert.deepEqual(sent, []);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /NOTIFY_SOCKET=vsock:2:9 is neither a path nor @abstract/);
});

test("statusLine() summarises the rota in one line", () => {
  assert.equal(statusLine(snapshot()), "1 of 2 workers ready, 1 failing init, 1241 requests, config v4, 1 crash");
  assert.equal(
    statusLine(snapshot({
      phase: "stopping",
      workers: [
        worker({ state: "draining", requests: 3 }),
        worker({ pid: 2, generation: 1, state: "exited", requests: 5 }),
      ],
    })),
    "stopping, 0 of 1 workers ready, 1 draining, 8 requests, config v4, 1 crash",
  );
});
