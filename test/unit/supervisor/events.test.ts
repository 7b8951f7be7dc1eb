import assert from "node:assert/strict";
import { test } from "node:test";
import { Listeners } from "../../../runtime/supervisor/events.ts";

test("Listeners tells every listener, keeps telling the others when one throws, and removes each on its own", () => {
  const errors: unknown[] = [];
  const listeners = new Listeners<number>((error) => errors.push(error));
  const heard: string[] = [];
  const remove = listeners.add((n) => heard.push(`a${n}`));
  const same = (n: number) => heard.push(`b${n}`);
  const removeFirst = listeners.add(same);
  listeners.add(same);
  listeners.add(() => {
    throw new Error("boom");
  });
  listeners.emit(1);
  assert.deepEqual(heard, ["a1", "b1", "b1"]);
  assert.equal((errors[0] as Error).message, "boom");
  remove();
  removeFirst();
  listeners.emit(2);
  assert.deepEqual(heard.slice(3), ["b2"], "one of the two registrations of the same function is left");
});
