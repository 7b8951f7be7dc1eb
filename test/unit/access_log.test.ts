import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAccessLog } from "../../runtime/ops/access_log.ts";

const start = Date.UTC(2026, 10, 5, 9, 3, 7);

test("formatAccessLog() writes the Common Log Format by default", () => {
  const request = new Request("http://127.0.0.1:8000/items?id=3&x=y", { method: "POST" });
  const line = formatAccessLog({ request, status: 201, bytes: 1234, remoteAddress: "10.1.2.3", start, durationMs: 4 });
  assert.equal(line, '10.1.2.3 - - [05/Nov/2026:09:03:07 +0000] "POST /items?id=3&x=y HTTP/1.1" 201 1234');
});

test("formatAccessLog() matches the CLF grammar log tools parse", () => {
  const request = new Request("http://h/a%20b");
  const line = formatAccessLog({ request, status: 404, start, durationMs: 1 });
  const clf =
    /^(\S+) (\S+) (\S+) \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) (\d+|-)$/;
  const match = clf.exec(line);
  assert.ok(match, line);
  assert.equal(match[1], "-", "an unknown address is '-'");
  assert.equal(match[11], "GET /a%20b HTTP/1.1");
  assert.equal(match[13], "-", "unknown size is '-'");
});

test("formatAccessLog() takes the size from Content-Length when bytes are not counted", () => {
  const line = formatAccessLog({
    request: new Request("http://h/"),
    status: 200,
    headers: new Headers({ "content-length": "17" }),
    start,
    durationMs: 0,
  });
  assert.match(line, / 200 17$/);
});

test("formatAccessLog() combined adds referer and user agent, escaped, and optionally the duration", () => {
  const request = new Request("http://h/", {
    headers: { referer: "http://example.test/", "user-agent": 'curl "8" \\ é' },
  });
  const line = formatAccessLog({ request, status: 200, bytes: 5, remoteAddress: "::1", start, durationMs: 12.5 }, {
    format: "combined",
    duration: true,
  });
  assert.equal(
    line,
    '::1 - - [05/Nov/2026:09:03:07 +0000] "GET / HTTP/1.1" 200 5 "http://example.test/" "curl \\"8\\" \\\\ \\xc3\\xa9" 0.012500',
  );
});

test("formatAccessLog() cannot be broken into two lines by a hostile request", () => {
  const request = new Request("http://h/", { headers: { "user-agent": "a\tb" } });
  const line = formatAccessLog({ request, status: 200, start, durationMs: 1 }, { format: "combined" });
  assert.doesNotMatch(line, /[\n\r\t]/);
  assert.match(line, /"a\\x09b"$/);
});
