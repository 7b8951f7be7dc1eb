import assert from "node:assert/strict";
import { test } from "node:test";
import { RotaError } from "../../../runtime/errors.ts";
import { isStopping, nextPhase, type Phase, type PhaseEvent } from "../../../runtime/supervisor/phase.ts";

const resolve = () => {};
const reject = () => {};
const timer = { id: 7 };
const starting: Phase = { kind: "starting", resolve, reject };
const graceful: Phase = { kind: "stopping", code: 0, forced: false, delay: undefined };
const delayed: Phase = { kind: "stopping", code: 0, forced: false, delay: timer };
const forced: Phase = { kind: "stopping", code: 1, forced: true, delay: undefined };
const stopAsked: PhaseEvent = { type: "stop-asked", code: 0, force: false };
const forceAsked: PhaseEvent = { type: "stop-asked", code: 1, force: true };

test("nextPhase() moves the rota from idle through starting and running to stopped, as the table says", () => {
  const table: Array<[Phase, PhaseEvent, Phase]> = [
    [{ kind: "idle" }, { type: "start", resolve, reject }, starting],
    [starting, { type: "all-serving" }, { kind: "running" }],
    [{ kind: "running" }, stopAsked, graceful],
    [graceful, { type: "delay-started", timer }, delayed],
    [delayed, { type: "delay-over" }, graceful],
    [graceful, { type: "last-worker-gone" }, { kind: "stopped", code: 0 }],
    [forced, { type: "last-worker-gone" }, { kind: "stopped", code: 1 }],
  ];
  for (const [from, event, to] of table) {
    assert.deepEqual(nextPhase(from, event), to, `${JSON.stringify(from)} + ${event.type}`);
  }
});

test("nextPhase() stops a rota from any phase before stopping, graceful or forced, with the stop's exit code", () => {
  for (const from of [{ kind: "idle" }, starting, { kind: "running" }] satisfies Phase[]) {
    assert.deepEqual(nextPhase(from, stopAsked), graceful, from.kind);
    assert.deepEqual(nextPhase(from, { type: "stop-asked", code: 3, force: false }), { ...graceful, code: 3 });
    assert.deepEqual(nextPhase(from, forceAsked), forced, from.kind);
  }
});

test("nextPhase() keeps a start's error out of the phase: it only rejects the start", () => {
  const error = new RotaError("ERR_ROTA_LISTEN", "address in use");
  assert.deepEqual(nextPhase(starting, { type: "stop-asked", code: 0, force: false, error }), graceful);
});

test("nextPhase() lets a forced stop overtake a graceful one, with its own exit code and without the delay timer", () => {
  assert.deepEqual(nextPhase(graceful, forceAsked), forced);
  assert.deepEqual(nextPhase(delayed, forceAsked), forced);
  assert.deepEqual(nextPhase({ ...delayed, code: 2 }, { type: "stop-asked", code: 5, force: true }), {
    ...forced,
    code: 5,
  });
});

test("nextPhase() ignores events that mean nothing in a phase, returning the same phase", () => {
  const ignored: Array<[Phase, PhaseEvent]> = [
    [starting, { type: "start", resolve, reject }],
    [{ kind: "running" }, { type: "start", resolve, reject }],
    [graceful, { type: "start", resolve, reject }],
    [{ kind: "idle" }, { type: "all-serving" }],
    [{ kind: "running" }, { type: "all-serving" }],
    [graceful, { type: "all-serving" }],
    [graceful, stopAsked],
    [delayed, stopAsked],
    [forced, stopAsked],
    [forced, forceAsked],
    [{ kind: "stopped", code: 0 }, stopAsked],
    [{ kind: "stopped", code: 0 }, forceAsked],
    [{ kind: "running" }, { type: "delay-started", timer }],
    [delayed, { type: "delay-started", timer: { id: 8 } }],
    [forced, { type: "delay-started", timer }],
    [graceful, { type: "delay-over" }],
    [forced, { type: "delay-over" }],
    [{ kind: "running" }, { type: "delay-over" }],
    [{ kind: "idle" }, { type: "last-worker-gone" }],
    [starting, { type: "last-worker-gone" }],
    [{ kind: "running" }, { type: "last-worker-gone" }],
    [{ kind: "stopped", code: 1 }, { type: "last-worker-gone" }],
  ];
  for (const [phase, event] of ignored) {
    assert.equal(nextPhase(phase, event), phase, `${JSON.stringify(phase)} + ${event.type}`);
  }
});

test("isStopping() is true while stopping and once stopped, and only then", () => {
  const kinds: Array<[Phase["kind"], boolean]> = [
    ["idle", false],
    ["starting", false],
    ["running", false],
    ["stopping", true],
    ["stopped", true],
  ];
  for (const [kind, stopping] of kinds) assert.equal(isStopping(kind), stopping, kind);
});
