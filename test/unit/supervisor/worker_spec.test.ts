import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveOptions } from "../../../runtime/options.ts";
import { buildWorkerSpec, stagger } from "../../../runtime/supervisor/worker_spec.ts";

test("stagger() spreads a limit over the slots, and 0 stays off", () => {
  assert.deepEqual([0, 1, 2, 3].map((slot) => stagger(1000, 500, slot, 4)), [1000, 1125, 1250, 1375]);
  assert.equal(stagger(0, 500, 3, 4), 0);
});

test("buildWorkerSpec() tells a worker how many others are ready, and its slot's limits", () => {
  const options = resolveOptions({ app: "file:///app.js", workers: 2, maxRequests: 100 }, {
    env: {},
    parallelism: 2,
    isTerminal: false,
  });
  const context = { health: { ready: false, workersReady: 0, phase: "starting", pid: 1 } as const, logColor: false };
  const first = buildWorkerSpec(options, { slot: 1, generation: 0 }, { version: 3, value: { a: 1 } }, 0, context);
  assert.equal(first.peersReady, 0);
  assert.equal(first.maxRequests, 125);
  assert.deepEqual(first.config, { version: 3, value: { a: 1 } });
  assert.equal(buildWorkerSpec(options, { slot: 0, generation: 4 }, first.config, 2, context).peersReady, 2);
});

test("buildWorkerSpec() passes the health prefix (empty when off), the rota's health and the access log", () => {
  const resolve = (extra: Record<string, string>) =>
    resolveOptions({ app: "file:///app.js", workers: 1, ...extra }, { env: {}, parallelism: 1, isTerminal: false });
  const health = { ready: true, workersReady: 1, phase: "running", pid: 7 } as const;
  const spec = buildWorkerSpec(resolve({}), { slot: 0, generation: 0 }, { version: 0, value: {} }, 0, {
    health,
    logColor: true,
  });
  assert.deepEqual([spec.healthPrefix, spec.health, spec.accessLog, spec.logColor], ["/_rota", health, "off", true]);
  const off = buildWorkerSpec(
    resolve({ healthPrefix: "off", accessLog: "combined" }),
    { slot: 0, generation: 0 },
    { version: 0, value: {} },
    0,
    { health, logColor: false },
  );
  assert.deepEqual([off.healthPrefix, off.accessLog], ["", "combined"]);
});
