import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../runtime/log.ts";
import { WarningThrottle } from "../../runtime/warning_throttle.ts";
import { FakeClock } from "../_fake_clock.ts";

function throttled(limit = 3) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const log = createLogger({ name: "test", format: "pretty", write: (line) => lines.push(line) });
  return { clock, lines, throttle: new WarningThrottle({ log, clock, limit, windowMs: 1000 }) };
}

test("WarningThrottle logs a few lines per source per second, then one line with the count of the rest", async () => {
  const { clock, lines, throttle } = throttled(3);
  for (let i = 0; i < 200_000; i++) throttle.warn("worker 0.0", `junk ${i}`);
  assert.deepEqual(lines, ["rota[test] WARN junk 0", "rota[test] WARN junk 1", "rota[test] WARN junk 2"]);
  await clock.advance(1000);
  assert.deepEqual(lines.slice(3), [
    "rota[test] WARN suppressed 199997 similar warnings about worker 0.0 in the last 1000ms",
  ]);
  throttle.warn("worker 0.0", "later");
  assert.equal(lines.at(-1), "rota[test] WARN later", "a new window has its own budget");
  await clock.advance(1000);
  assert.equal(lines.length, 5, "no count line when nothing was suppressed");
  assert.equal(clock.pending, 0, "nothing left behind");
});

test("WarningThrottle gives each source its own budget, and flush() reports what is pending", () => {
  const { clock, lines, throttle } = throttled(1);
  throttle.warn("a", "a1");
  throttle.warn("a", "a2");
  throttle.warn("b", "b1");
  throttle.flush();
  assert.deepEqual(lines, [
    "rota[test] WARN a1",
    "rota[test] WARN b1",
    "rota[test] WARN suppressed 1 similar warnings about a in the last 1000ms",
  ]);
  assert.equal(clock.pending, 0);
});
