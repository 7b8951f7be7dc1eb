import assert from "node:assert/strict";
import { test } from "node:test";
import {
  hardMemoryLimit,
  heapLimitMiB,
  MEMORY_CHECK_MS,
  memoryLevel,
  MemoryWatch,
} from "../../../runtime/supervisor/memory_watch.ts";
import { FakeClock } from "../../_fake_clock.ts";

const MB = 2 ** 20;

test("memoryLevel() puts the hard limit at 1.5 times --max-memory, and 0 turns both off", () => {
  assert.equal(hardMemoryLimit(100 * MB), 150 * MB);
  assert.equal(memoryLevel(100 * MB, 100 * MB), "under");
  assert.equal(memoryLevel(100 * MB + 1, 100 * MB), "soft");
  assert.equal(memoryLevel(150 * MB, 100 * MB), "soft");
  assert.equal(memoryLevel(150 * MB + 1, 100 * MB), "hard");
  assert.equal(memoryLevel(10_000 * MB, 0), "under");
});

test("heapLimitMiB() is the hard limit, and none when it is too small for any runtime to start", () => {
  assert.equal(heapLimitMiB(512 * MB), 768);
  assert.equal(heapLimitMiB(0), undefined);
  assert.equal(heapLimitMiB(32 * MB), undefined);
  assert.equal(heapLimitMiB(43 * MB), 64);
});

test("MemoryWatch measures every second and reports each worker once per limit it passes", async () => {
  const clock = new FakeClock();
  const a = { name: "a" };
  const b = { name: "b" };
  const rss = new Map<object, number | undefined>([[a, 50 * MB], [b, undefined]]);
  const reports: string[] = [];
  const watch = new MemoryWatch<{ name: string }>({
    maxMemory: 100 * MB,
    clock,
    workers: () => [a, b],
    measure: (worker) => rss.get(worker),
    over: (worker, level, bytes) => reports.push(`${worker.name} ${level} ${bytes / MB}`),
  });
  watch.start();
  await clock.advance(MEMORY_CHECK_MS * 3);
  assert.deepEqual(reports, []);
  rss.set(a, 120 * MB);
  await clock.advance(MEMORY_CHECK_MS);
  assert.deepEqual(reports, ["a soft 120"]);
  await clock.advance(MEMORY_CHECK_MS * 3);
  assert.deepEqual(reports, ["a soft 120"], "once per limit");
  rss.set(a, 200 * MB);
  await clock.advance(MEMORY_CHECK_MS);
  assert.deepEqual(reports, ["a soft 120", "a hard 200"]);
  rss.set(a, 120 * MB);
  await clock.advance(MEMORY_CHECK_MS);
  assert.deepEqual(reports, ["a soft 120", "a hard 200"], "coming back under the hard limit is not news");
  watch.stop();
  assert.equal(clock.pending, 0);
});

test("MemoryWatch does nothing without --max-memory", async () => {
  const clock = new FakeClock();
  const watch = new MemoryWatch({
    maxMemory: 0,
    clock,
    workers: () => [{}],
    measure: () => 10_000 * MB,
    over: () => assert.fail("no limit, no report"),
  });
  watch.start();
  assert.equal(clock.pending, 0);
  await clock.advance(10_000);
});
