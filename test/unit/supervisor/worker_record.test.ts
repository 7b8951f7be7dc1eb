import assert from "node:assert/strict";
import { test } from "node:test";
import {
  nextState,
  SPAWNED,
  type WorkerEvent,
  WorkerRecord,
  type WorkerState,
} from "../../../runtime/supervisor/worker_record.ts";
import { FakeClock } from "../../_fake_clock.ts";

const exit = { code: 0, signal: null };
const fatal = { code: "ERR_ROTA_LISTEN", message: "address already in use" };

test("nextState() moves a worker through its life as the table says", () => {
  const table: Array<[WorkerState, WorkerEvent, WorkerState]> = [
    [SPAWNED, { type: "listening" }, { kind: "starting", listening: true }],
    [SPAWNED, { type: "init-ok" }, { kind: "initialised" }],
    [SPAWNED, { type: "init-failed" }, { kind: "failing", listening: false }],
    [{ kind: "starting", listening: true }, { type: "init-ok" }, { kind: "ready" }],
    [{ kind: "starting", listening: true }, { type: "init-failed" }, { kind: "failing", listening: true }],
    [{ kind: "initialised" }, { type: "listening" }, { kind: "ready" }],
    [{ kind: "failing", listening: false }, { type: "listening" }, { kind: "failing", listening: true }],
    [{ kind: "failing", listening: true }, { type: "init-ok" }, { kind: "ready" }],
    [{ kind: "failing", listening: false }, { type: "init-ok" }, { kind: "initialised" }],
    [{ kind: "ready" }, { type: "init-failed" }, { kind: "failing", listening: true }],
    [{ kind: "ready" }, { type: "drain" }, { kind: "draining" }],
    [SPAWNED, { type: "drain" }, { kind: "draining" }],
    [SPAWNED, { type: "fatal", fatal }, { kind: "fatal", fatal }],
    [{ kind: "draining" }, { type: "exit", exit }, { kind: "exited", ended: { kind: "retired", exit } }],
    [{ kind: "ready" }, { type: "exit", exit }, { kind: "exited", ended: { kind: "crashed", exit } }],
    [{ kind: "fatal", fatal }, { type: "exit", exit }, {
      kind: "exited",
      ended: { kind: "crashed", exit, fatal },
    }],
    [{ kind: "ready" }, { type: "kill", reason: "watchdog" }, { kind: "killed", reason: "watchdog" }],
    [SPAWNED, { type: "kill", reason: "watchdog" }, { kind: "killed", reason: "watchdog" }],
    [{ kind: "draining" }, { type: "kill", reason: "watchdog" }, { kind: "killed", reason: "watchdog" }],
    [{ kind: "killed", reason: "watchdog" }, { type: "init-ok" }, { kind: "killed", reason: "watchdog" }],
    [{ kind: "killed", reason: "watchdog" }, { type: "drain" }, { kind: "killed", reason: "watchdog" }],
    [{ kind: "killed", reason: "watchdog" }, { type: "exit", exit }, {
      kind: "exited",
      ended: { kind: "killed", exit, reason: "watchdog" },
    }],
  ];
  for (const [from, event, to] of table) {
    assert.deepEqual(nextState(from, event), to, `${JSON.stringify(from)} + ${event.type}`);
  }
});

test("nextState() ignores events that mean nothing in a state, returning the same state", () => {
  const ignored: Array<[WorkerState, WorkerEvent]> = [
    [{ kind: "ready" }, { type: "listening" }],
    [{ kind: "ready" }, { type: "init-ok" }],
    [{ kind: "draining" }, { type: "init-ok" }],
    [{ kind: "draining" }, { type: "drain" }],
    [{ kind: "draining" }, { type: "fatal", fatal }],
    [{ kind: "fatal", fatal }, { type: "drain" }],
    [{ kind: "exited", ended: { kind: "retired", exit } }, { type: "exit", exit }],
    [{ kind: "exited", ended: { kind: "retired", exit } }, { type: "listening" }],
  ];
  for (const [state, event] of ignored) assert.equal(nextState(state, event), state, `${state.kind} + ${event.type}`);
});

test("WorkerRecord.apply() records the first time ready, and cancels its timers on exit", async () => {
  const clock = new FakeClock();
  const record = new WorkerRecord({
    slot: 0,
    generation: 2,
    child: { pid: 7, send() {}, kill() {} },
    clock,
    configVersion: 0,
  });
  let fired = 0;
  record.setTimer(1000, () => fired++);
  await clock.advance(10);
  assert.equal(record.apply({ type: "listening" })?.firstReady, false);
  assert.equal(record.apply({ type: "init-ok" })?.firstReady, true);
  assert.equal(record.readyAt, 10);
  record.apply({ type: "init-failed" });
  assert.equal(record.apply({ type: "init-ok" })?.firstReady, false, "ready again is not the first time");
  assert.equal(record.apply({ type: "listening" }), undefined, "no change");
  record.apply({ type: "exit", exit });
  await clock.advance(5000);
  assert.equal(fired, 0, "the timer died with the worker");
  assert.equal(record.name, "worker 0.2 (pid 7)");
});
