import assert from "node:assert/strict";
import { test } from "node:test";
import type { App, Env } from "../../../runtime/app.ts";
import { systemClock } from "../../../runtime/clock.ts";
import { createLogger } from "../../../runtime/log.ts";
import { warmUp } from "../../../runtime/worker/warmup.ts";

test("warmUp() runs the named requests through fetch, again and again until the duration passed", async () => {
  const seen: string[] = [];
  const app: App = {
    fetch: (request) => {
      seen.push(`${request.method} ${new URL(request.url).pathname}${new URL(request.url).search}`);
      return new Response("ok");
    },
  };
  const { requests } = await warmUp({
    app,
    warmup: { requests: ["/", new Request("http://x/items?page=2", { method: "POST" })], duration: 50 },
    origin: "http://127.0.0.1:8000",
    env: () => ({}) as Env,
    clock: systemClock,
    log: createLogger({ name: "t", write: () => {} }),
  });
  assert.ok(requests >= 4 && requests % 2 === 0, `${requests} requests, whole rounds`);
  assert.deepEqual(seen.slice(0, 2), ["GET /", "POST /items?page=2"]);
});

test("warmUp() logs a failing request once, carries on, and stops when its signal aborts", async () => {
  const lines: string[] = [];
  const stop = new AbortController();
  let calls = 0;
  const app: App = {
    fetch: () => {
      if (++calls === 3) stop.abort();
      throw new Error("not warm yet");
    },
  };
  const { requests } = await warmUp({
    app,
    warmup: { requests: ["/a"], duration: 10_000 },
    origin: "http://127.0.0.1:8000",
    env: () => ({}) as Env,
    clock: systemClock,
    log: createLogger({ name: "t", write: (line) => lines.push(line) }),
    signal: stop.signal,
  });
  assert.equal(requests, 3);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /warm-up request GET \/a failed: not warm yet/);
});
