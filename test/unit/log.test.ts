import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../runtime/log.ts";

test("createLogger() writes one line per event, escaping line breaks in the message and the fields", () => {
  const lines: string[] = [];
  const log = createLogger({ name: "worker 0.0", format: "pretty", write: (line) => lines.push(line) });
  log.error("the stream broke\nwith a second line", { stack: "Error: x\n    at f (app.js:1:1)", path: "/x" });
  assert.deepEqual(lines, [
    'rota[worker 0.0] ERROR the stream broke\\nwith a second line (stack="Error: x\\n    at f (app.js:1:1)" path=/x)',
  ]);
  const json: string[] = [];
  createLogger({ name: "s", write: (line) => json.push(line), date: () => new Date(0) }).warn("a\nb");
  assert.equal(json.length, 1);
  assert.equal(JSON.parse(json[0]).msg, "a\nb");
});
