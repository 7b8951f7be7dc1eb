import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, type LoggerOptions, wantsColor } from "../../runtime/log.ts";

const at = new Date(Date.UTC(2026, 10, 25, 12, 34, 56, 789));

function capture(options: Partial<LoggerOptions>) {
  const lines: string[] = [];
  const log = createLogger({ name: "worker 1.2", write: (line) => lines.push(line), date: () => at, ...options });
  return { log, lines };
}

test("a JSON line carries time, level, event, slot, pid, name, message and fields", () => {
  const { log, lines } = capture({ format: "json", pid: 321, slot: 1, fields: { generation: 2 } });
  log.info("init succeeded", { event: "worker.ready", attempt: 1 });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-11-25T12:34:56.789Z",
    level: "info",
    event: "worker.ready",
    slot: 1,
    pid: 321,
    name: "worker 1.2",
    msg: "init succeeded",
    generation: 2,
    attempt: 1,
  });
});

test("a line's own pid field wins over the context, as existing call sites expect", () => {
  const { log, lines } = capture({ format: "json", name: "supervisor", pid: 1 });
  log.info("started worker 0.0", { pid: 9, role: "active", msg: "ignored", time: "ignored" });
  const record = JSON.parse(lines[0]);
  assert.equal(record.pid, 9);
  assert.equal(record.msg, "started worker 0.0");
  assert.equal(record.time, "2026-11-25T12:34:56.789Z");
});

test("a line with no event gets the default one, and the supervisor's slot is null", () => {
  const { log, lines } = capture({ format: "json", name: "supervisor", pid: 7 });
  log.warn("something odd");
  const record = JSON.parse(lines[0]);
  assert.equal(record.event, "log");
  assert.equal(record.slot, null);
  assert.equal(record.pid, 7);
  assert.equal(record.level, "warn");
});

test("existing call sites that pass pid and slot as fields keep them as the line's pid and slot", () => {
  const { log, lines } = capture({ format: "json", fields: { pid: 55, slot: 3, generation: 0 } });
  log.error("fetch threw");
  const record = JSON.parse(lines[0]);
  assert.equal(record.pid, 55);
  assert.equal(record.slot, 3);
  assert.equal(Object.keys(record).filter((k) => k === "pid").length, 1);
});

test("a JSON line writes an Error field with its stack, and stays one line", () => {
  const { log, lines } = capture({ format: "json" });
  const error = Object.assign(new Error("db down"), { code: "ECONNREFUSED" });
  log.error("init attempt 1 failed", { event: "init.failed", error });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /\n/);
  const record = JSON.parse(lines[0]);
  assert.equal(record.error.message, "db down");
  assert.equal(record.error.code, "ECONNREFUSED");
  assert.match(record.error.stack, /^Error: db down\n\s+at /);
});

test("a pretty line without colour has time, level, name, pid, message, fields and event on one line, with no escapes", () => {
  const { log, lines } = capture({ format: "pretty", pid: 321 });
  log.warn("graceful timeout passed", { event: "worker.drain-timeout", open: 2, error: new Error("x\ny") });
  assert.equal(
    lines[0],
    `12:34:56.789 WARN  rota[worker 1.2 #321] graceful timeout passed (open=2 error="x\\ny") worker.drain-timeout`,
  );
  const { log: plain, lines: more } = capture({ format: "pretty" });
  plain.info("2 of 2 workers ready");
  assert.equal(more[0], "12:34:56.789 INFO  rota[worker 1.2] 2 of 2 workers ready");
  assert.ok(!(lines[0] + more[0]).includes("\x1b["), "no escape sequence");
});

test("a pretty line in colour paints the level by severity", () => {
  const { log, lines } = capture({ format: "pretty", color: true });
  log.error("boom");
  log.info("fine");
  assert.ok(lines[0].includes("\x1b[31m\x1b[1mERROR\x1b[0m"), lines[0]);
  assert.ok(lines[1].includes("\x1b[32mINFO \x1b[0m"), lines[1]);
  assert.ok(lines[1].endsWith("\x1b[36mrota[worker 1.2]\x1b[0m fine"), lines[1]);
});

test("wantsColor() colours a terminal unless NO_COLOR is set, and FORCE_COLOR forces it", () => {
  assert.equal(wantsColor(true, {}), true);
  assert.equal(wantsColor(false, {}), false);
  assert.equal(wantsColor(true, { NO_COLOR: "1" }), false);
  assert.equal(wantsColor(true, { NO_COLOR: "" }), true, "an empty NO_COLOR does not count");
  assert.equal(wantsColor(false, { FORCE_COLOR: "1" }), true);
  assert.equal(wantsColor(true, { FORCE_COLOR: "0" }), true);
  assert.equal(wantsColor(true, { NO_COLOR: "1", FORCE_COLOR: "1" }), false, "NO_COLOR wins");
});

test("a pretty line escapes line breaks in the message and the fields: one event, one line", () => {
  const { log, lines } = capture({ format: "pretty" });
  log.error("the stream broke\nwith a second line", { stack: "Error: x\n    at f (app.js:1:1)", path: "/x" });
  assert.deepEqual(lines, [
    '12:34:56.789 ERROR rota[worker 1.2] the stream broke\\nwith a second line (stack="Error: x\\n    at f (app.js:1:1)" path=/x)',
  ]);
  const { log: json, lines: records } = capture({ format: "json" });
  json.warn("a\nb");
  assert.equal(records.length, 1);
  assert.equal(JSON.parse(records[0]).msg, "a\nb");
});
