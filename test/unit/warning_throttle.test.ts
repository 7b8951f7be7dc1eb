import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../runtime/log.ts";
import { WarningThrottle } from "../../runtime/warning_throttle.ts";
import { FakeClock } from "../_fake_clock.ts";

function throttled(limit = 3) {
  const clock = new FakeClock();
  const lines: string[] = [];
  // Lines as "WARN message": the time and the logger's name are the logger's business, tested there.
  const log = createLogger({
    name: "test",
    format: "pretty",
    write: (line) => lines.push(line.slice(13).replace(" rota[test]", "")),
  });
  return { clock, lines, throttle: new WarningThrottle({ log, clock, limit, windowMs: 1000 }) };
}

test("WarningThrottle logs a few lines per source per second, then one line with the count of the rest", async () => {
  const { clock, lines, throttle } = throttled(3);
  for (let i = 0; i < 200_000; i++) throttle.warn("worker 0.0", `junk ${i}`);
  assert.deepEqual(lines, ["WARN  junk 0", "WARN  junk 1", "WARN  junk 2"]);
  await clock.advance(1000);
  assert.deepEqual(lines.slice(3), [
    "WARN  suppressed 199997 similar warnings about worker 0.0 in the last 1000ms",
  ]);
  throttle.warn("worker 0.0", "later");
  assert.equal(lines.at(-1), "WARN  later", "a new window has its own budget");
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
    "WARN  a1",
    "WARN  b1",
    "WARN  suppressed 1 similar warnings about a in the last 1000ms",
  ]);
  assert.equal(clock.pending, 0);
});
