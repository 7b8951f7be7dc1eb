import assert from "node:assert/strict";
import { test } from "node:test";
import type { App, Env } from "../../../runtime/app.ts";
import type { RequestConnection } from "../../../runtime/connection.ts";
import { createLogger } from "../../../runtime/log.ts";
import { type HandlerEnv, handleRequest } from "../../../runtime/worker/handler.ts";
import { InFlight } from "../../../runtime/worker/in_flight.ts";
import { InitGate } from "../../../runtime/worker/init_gate.ts";
import { RequestLimits } from "../../../runtime/worker/request_limits.ts";
import { FakeClock } from "../../_fake_clock.ts";

function handlerEnv(app: App, init: () => unknown = () => ({ ok: true }), draining = false) {
  const lines: string[] = [];
  const clock = new FakeClock();
  const gate = new InitGate<unknown>({ init, clock, wait: 100 });
  const env: HandlerEnv = {
    app,
    gate,
    env: (state) => ({ state } as unknown as Env),
    closeConnections: () => draining,
    waitUntil: () => {},
    log: createLogger({ name: "test", write: (line) => lines.push(line) }),
  };
  return { env, gate, clock, lines };
}

test("handleRequest() answers through the app once init succeeded, handing it the state", async () => {
  const { env, gate } = handlerEnv({ fetch: (_r, e) => Response.json(e.state) });
  await gate.start();
  const response = await handleRequest(new Request("http://x/"), env);
  assert.deepEqual([response.status, await response.json()], [200, { ok: true }]);
});

test("handleRequest() answers 503 with Retry-After, never the error text, while init fails", async () => {
  const { env, gate } = handlerEnv({ fetch: () => new Response("app") }, () => {
    throw new Error("password=SECRET rejected");
  });
  await gate.start();
  const response = await handleRequest(new Request("http://x/"), env);
  assert.equal(response.status, 503);
  assert.match(response.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const body = await response.text();
  assert.doesNotMatch(body, /SECRET/);
  assert.deepEqual(JSON.parse(body), { error: "unavailable", reason: "initialisation failed, retrying" });
});

test("handleRequest() answers 503 'initialising' when init outlasts the wait", async () => {
  const { env, clock } = handlerEnv({ fetch: () => new Response("app") }, () => new Promise(() => {}));
  const answering = handleRequest(new Request("http://x/"), env);
  await clock.advance(100);
  const response = await answering;
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), { error: "unavailable", reason: "initialising" });
});

test("handleRequest() answers 500 and logs when fetch throws or returns something that is not a Response", async () => {
  const cases: Array<[App["fetch"], RegExp]> = [
    [() => {
      throw new Error("boom");
    }, /fetch threw: boom/],
    [(() => "text") as unknown as App["fetch"], /fetch returned a string instead of a Response: GET \/path/],
    [(() => undefined) as unknown as App["fetch"], /fetch returned undefined instead of a Response: GET \/path/],
    [
      (() => ({ status: 200, headers: {} })) as unknown as App["fetch"],
      /fetch returned an object instead of a Response: GET \/path/,
    ],
    [
      (() => ({ status: 200, headers: new Headers(), body: "look-alike" })) as unknown as App["fetch"],
      /fetch returned an object instead of a Response: GET \/path/,
    ],
  ];
  for (const [fetch, logged] of cases) {
    const { env, gate, lines } = handlerEnv({ fetch });
    await gate.start();
    const response = await handleRequest(new Request("http://x/path"), env);
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "internal server error" });
    assert.match(lines.join("\n"), logged);
  }
});

test("handleRequest() adds Connection: close while draining, even to immutable responses", async () => {
  for (const fetch of [() => new Response("hi"), () => Response.redirect("http://x/elsewhere", 302)]) {
    const { env, gate } = handlerEnv({ fetch }, undefined, true);
    await gate.start();
    const response = await handleRequest(new Request("http://x/"), env);
    assert.equal(response.headers.get("connection"), "close");
  }
});

test("handleRequest() leaves Connection: close to a runtime that says it itself (closesItself), draining or refusing", async () => {
  const connection = {
    closesItself: true,
    bindings: undefined,
    remote: () => undefined,
    cut: () => false,
  } satisfies RequestConnection;
  for (const fetch of [() => new Response("hi"), () => Response.redirect("http://x/elsewhere", 302)]) {
    const { env, gate } = handlerEnv({ fetch }, undefined, true);
    await gate.start();
    const response = await handleRequest(new Request("http://x/"), env, connection);
    assert.equal(response.headers.get("connection"), null);
  }
  // A 413 carries Connection: close of its own; that one is left to the runtime too.
  const { env, gate } = handlerEnv({ fetch: () => new Response("app") });
  const limits = new RequestLimits({ requestTimeout: 0, maxBody: 10, clock: new FakeClock(), warn: () => {} });
  await gate.start();
  const big = new Request("http://x/", { method: "POST", body: "x".repeat(20), headers: { "content-length": "20" } });
  const refused = await handleRequest(big, { ...env, limits }, connection);
  assert.deepEqual([refused.status, refused.headers.get("connection")], [413, null]);
  const elsewhere = await handleRequest(big.clone(), { ...env, limits });
  assert.deepEqual([elsewhere.status, elsewhere.headers.get("connection")], [413, "close"]);
});

test("handleRequest() gives every request its own context props", async () => {
  const seen: object[] = [];
  const { env, gate } = handlerEnv({
    fetch: (_r, _e, context) => {
      seen.push(context.props);
      return new Response("ok");
    },
  });
  await gate.start();
  await handleRequest(new Request("http://x/"), env);
  await handleRequest(new Request("http://x/"), env);
  assert.notEqual(seen[0], seen[1]);
});

test("handleRequest() refuses a body above --max-body before the gate, even while init runs", async () => {
  const { env, clock } = handlerEnv({ fetch: () => new Response("app") }, () => new Promise(() => {}));
  const limited: HandlerEnv = {
    ...env,
    limits: new RequestLimits({ requestTimeout: 0, maxBody: 10, clock, warn: () => {} }),
  };
  const request = new Request("http://x/upload", {
    method: "POST",
    headers: { "content-length": "11" },
    body: "x".repeat(11),
  });
  const response = await handleRequest(request, limited);
  assert.equal(response.status, 413);
  assert.equal(request.bodyUsed, false, "the body was never read");
});

test("handleRequest() tracks the app's handler while it runs, for the heartbeat", async () => {
  const clock = new FakeClock();
  const inFlight = new InFlight({ clock });
  let seen: unknown;
  const { env, gate } = handlerEnv({
    fetch: () => {
      seen = inFlight.oldest();
      return new Response("ok");
    },
  });
  await gate.start();
  await handleRequest(new Request("http://x/report?secret=1", { method: "PUT", body: "x" }), { ...env, inFlight });
  assert.deepEqual(seen, { method: "PUT", path: "/report", ageMs: 0 });
  assert.deepEqual([inFlight.size, inFlight.finished], [0, 1]);
});

test("handleRequest() ages the app's handler from the request's arrival, or from the end of a wait for init", async () => {
  let seen: unknown;
  const app: App = {
    fetch: () => {
      seen = inFlight.oldest();
      return new Response("ok");
    },
  };
  let release = () => {};
  const { env, gate, clock } = handlerEnv(app, () => new Promise<void>((done) => (release = done)));
  const inFlight = new InFlight({ clock });
  void gate.start();
  await clock.advance(1000);
  const arrived = clock.now();
  const waited = handleRequest(new Request("http://x/waited"), { ...env, inFlight }, undefined, arrived);
  await clock.advance(50);
  release();
  await waited;
  assert.deepEqual(seen, { method: "GET", path: "/waited", ageMs: 0 }, "the wait for init is not the handler's");
  await clock.advance(1000);
  await handleRequest(new Request("http://x/ready"), { ...env, inFlight }, undefined, clock.now() - 30);
  assert.deepEqual(seen, { method: "GET", path: "/ready", ageMs: 30 });
});

test("handleRequest() accepts the runtime's own Response even when the global Response was replaced by a class that does not claim it", async () => {
  const Native = globalThis.Response;
  const { env, gate } = handlerEnv({ fetch: () => new Native("native") });
  await gate.start();
  // As @hono/node-server 1.x does: its class sets the global, and Response.json() still builds the runtime's own.
  class Replaced {}
  Object.defineProperty(globalThis, "Response", { value: Replaced, writable: true, configurable: true });
  try {
    const response = await handleRequest(new Request("http://x/"), env);
    assert.equal(await response.text(), "native");
  } finally {
    Object.defineProperty(globalThis, "Response", { value: Native, writable: true, configurable: true });
  }
});

test("handleRequest() answers a synchronous app synchronously once ready, and a promise otherwise", async () => {
  const sync = handlerEnv({ fetch: () => new Response("now") });
  await sync.gate.start();
  const now = handleRequest(new Request("http://x/"), sync.env);
  assert.ok(now instanceof Response, "no promise for a synchronous answer");
  assert.equal(await now.text(), "now");

  const throws = handlerEnv({
    fetch: () => {
      throw new Error("boom");
    },
  });
  await throws.gate.start();
  const failed = handleRequest(new Request("http://x/"), throws.env);
  assert.ok(failed instanceof Response, "a synchronous throw is a synchronous 500");
  assert.equal(failed.status, 500);
  assert.match(throws.lines.join("\n"), /fetch threw: .*boom/);

  const later = handlerEnv({ fetch: () => Promise.resolve(new Response("later")) });
  await later.gate.start();
  const promised = handleRequest(new Request("http://x/"), later.env);
  assert.ok(promised instanceof Promise);
  assert.equal(await (await promised).text(), "later");

  const rejects = handlerEnv({ fetch: () => Promise.reject(new Error("late boom")) });
  await rejects.gate.start();
  assert.equal((await handleRequest(new Request("http://x/"), rejects.env)).status, 500);
  assert.match(rejects.lines.join("\n"), /fetch threw: .*late boom/);

  // Before init succeeded, the wait is a promise whatever the app does.
  const pending = handlerEnv({ fetch: () => new Response("after init") });
  const waiting = handleRequest(new Request("http://x/"), pending.env);
  assert.ok(waiting instanceof Promise);
  void pending.gate.start();
  assert.equal(await (await waiting).text(), "after init");
});

test("handleRequest() answers 500 and ends the request's tracking when looking at the app's answer throws", async () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const { env, gate, lines } = handlerEnv({ fetch: () => proxy as unknown as Response });
  const inFlight = new InFlight({ clock: new FakeClock() });
  await gate.start();
  const response = await handleRequest(new Request("http://x/"), { ...env, inFlight });
  assert.equal(response.status, 500);
  assert.match(lines.join("\n"), /fetch threw: .*revoked/);
  assert.equal(inFlight.oldest(), undefined, "no request left running");
});
