import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { defineApp, type Env, type ExecutionContext, loadApp } from "../../runtime/app.ts";

const env = {
  state: undefined,
  config: { get: () => ({}), version: 0 },
  worker: { slot: 0, generation: 0, pid: 1, runtime: "node" },
};

test("loadApp() serves a Hono instance, a plain object and a bare fetch function alike", async () => {
  const hono = new Hono();
  hono.get("/", (c) => c.text("hono"));
  const fromHono = loadApp({ default: hono }, "hono.ts");
  const fromObject = loadApp({ default: defineApp({ fetch: () => new Response("object") }) }, "object.ts");
  const fromFunction = loadApp({ default: () => new Response("function") }, "function.ts");
  for (const [app, text] of [[fromHono, "hono"], [fromObject, "object"], [fromFunction, "function"]] as const) {
    const response = await app.fetch(
      new Request("http://x/"),
      env as unknown as Env,
      undefined as unknown as ExecutionContext,
    );
    assert.equal(await response.text(), text);
  }
});

test("loadApp() names what is wrong with a default export", () => {
  assert.throws(() => loadApp({}, "a.js"), { code: "ERR_ROTA_APP_SHAPE", message: /current value is undefined/ });
  assert.throws(() => loadApp({ default: null }, "a.js"), /current value is null/);
  assert.throws(
    () => loadApp({ default: { handler() {} } }, "a.js"),
    /has no fetch\(request, env\) method: it has 'handler'/,
  );
  assert.throws(
    () => loadApp({ default: { fetch() {}, init: 5 } }, "a.js"),
    /'init' hook must be a function: current value is number/,
  );
});

test("loadApp() checks an app's warm-up and refuses one it cannot run", () => {
  const fetch = () => new Response("ok");
  assert.deepEqual(loadApp({ default: { fetch, warmup: { requests: ["/"], duration: 500 } } }, "w.js").warmup, {
    requests: ["/"],
    duration: 500,
  });
  for (
    const [warmup, reason] of [
      [{ requests: "/" }, /'requests' must be an array of paths or Requests/],
      [{ requests: [1] }, /'requests' must be an array/],
      [
        { requests: ["/"], duration: 60_000 },
        /'duration' must be milliseconds from 1 to 10000: current value is 60000/,
      ],
      [null, /must be an object/],
    ] as const
  ) {
    assert.throws(() => loadApp({ default: { fetch, warmup } }, "w.js"), {
      code: "ERR_ROTA_APP_SHAPE",
      message: reason,
    });
  }
});

test("loadApp() keeps Bun's websocket handlers an app exports, and refuses a websocket that is not an object", () => {
  const websocket = { open() {}, message() {} };
  assert.equal(loadApp({ default: { fetch() {}, websocket } }, "a.js").websocket, websocket);
  assert.equal(loadApp({ default: { fetch() {} } }, "a.js").websocket, undefined);
  assert.throws(
    () => loadApp({ default: { fetch() {}, websocket: "yes" } }, "a.js"),
    {
      code: "ERR_ROTA_APP_SHAPE",
      message: /'websocket' handlers must be an object \(Bun's\): current value is string/,
    },
  );
});
