import assert from "node:assert/strict";
import { test } from "node:test";
import { ReloadProgress } from "../../../runtime/supervisor/reload_progress.ts";

test("ReloadProgress is over once every slot serves a worker started after it began", () => {
  const progress = new ReloadProgress();
  assert.equal(progress.settle(0, 5, "serving"), undefined, "no reload: nothing to settle");
  progress.begin([{ index: 0, nextGeneration: 3 }, { index: 1, nextGeneration: 1 }]);
  assert.equal(progress.settle(0, 2, "serving"), undefined, "an older worker does not count");
  assert.equal(progress.settle(0, 3, "serving"), undefined, "slot 1 is still pending");
  assert.equal(progress.state.kind, "running");
  assert.deepEqual(progress.settle(1, 1, "serving"), []);
  assert.equal(progress.state.kind, "idle");
});

test("ReloadProgress reports the slots whose replacement failed, and a new reload starts over", () => {
  const progress = new ReloadProgress();
  progress.begin([{ index: 0, nextGeneration: 1 }, { index: 1, nextGeneration: 1 }, { index: 2, nextGeneration: 1 }]);
  assert.equal(progress.settle(2, 1, "failed"), undefined);
  progress.begin([{ index: 0, nextGeneration: 2 }, { index: 1, nextGeneration: 2 }, { index: 2, nextGeneration: 2 }]);
  assert.equal(progress.settle(1, 1, "serving"), undefined, "started before the second reload: not fresh enough");
  assert.equal(progress.settle(2, 2, "failed"), undefined);
  assert.equal(progress.settle(0, 2, "failed"), undefined);
  assert.deepEqual(progress.settle(1, 2, "serving"), [0, 2]);
  progress.begin([{ index: 0, nextGeneration: 3 }]);
  progress.cancel();
  assert.equal(progress.settle(0, 3, "serving"), undefined, "a cancelled reload never ends");
});
