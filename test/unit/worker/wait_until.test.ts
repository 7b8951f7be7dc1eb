import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../runtime/log.ts";
import { PendingWork } from "../../../runtime/worker/wait_until.ts";

test("PendingWork.settled() also waits for work added while it waits, and logs rejections", async () => {
  const lines: string[] = [];
  const work = new PendingWork(createLogger({ name: "test", write: (line) => lines.push(line) }));
  const done: string[] = [];
  let releaseFirst!: () => void;
  work.add(new Promise<void>((resolve) => (releaseFirst = resolve)).then(() => {
    done.push("first");
    work.add(Promise.resolve().then(() => done.push("second, added by the first")));
  }));
  work.add(Promise.reject(new Error("lost")));
  const settled = work.settled().then(() => done.push("settled"));
  releaseFirst();
  await settled;
  assert.deepEqual(done, ["first", "second, added by the first", "settled"]);
  assert.equal(work.size, 0);
  assert.match(lines.join("\n"), /waitUntil promise rejected: lost/);
});
