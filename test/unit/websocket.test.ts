import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { WSContext } from "hono/ws";
import type { WorkerInfo } from "../../runtime/app.ts";
import { getConnInfo } from "../../runtime/conn_info.ts";
import type { RequestConnection, ServerSocket, SocketAcceptance } from "../../runtime/connection.ts";
import { createLogger } from "../../runtime/log.ts";
import { upgradeWebSocket } from "../../runtime/websocket.ts";
import { requestEnv, type WorkerEnv } from "../../runtime/worker/request_env.ts";
import { OpenSockets } from "../../runtime/worker/web_sockets.ts";
import { FakeClock, flush } from "../_fake_clock.ts";

const WORKER: WorkerInfo = { slot: 0, generation: 0, pid: 42, runtime: "node" };
const UPGRADE = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-protocol": "chat.v2, chat.v1" };

/** A worker's env around a fake connection that records the acceptance, as an adapter would. */
function world(options: { draining?: boolean; canUpgrade?: boolean; bindings?: object } = {}) {
  const { draining = false, canUpgrade = true, bindings } = options;
  const lines: string[] = [];
  const sockets = new OpenSockets({
    log: createLogger({ name: "t", write: (l) => lines.push(l) }),
    clock: new FakeClock(),
  });
  const shared: WorkerEnv = {
    config: { get: () => ({}), version: 0, publish: () => Promise.reject(new Error("no")) },
    worker: WORKER,
    waitUntil: () => {},
    sockets,
    acceptsWebSockets: () => !draining,
  };
  const accepted: SocketAcceptance[] = [];
  const connection: RequestConnection = {
    cut: () => false,
    remote: () => ({ address: "127.0.0.1", port: 50123, family: "IPv4" }),
    bindings,
    acceptWebSocket: canUpgrade ? (acceptance) => void accepted.push(acceptance) : undefined,
  };
  const env = requestEnv(shared, { ready: true }, connection);
  return { env, accepted, sockets, lines };
}

function fakeSocket() {
  const sent: unknown[] = [];
  const closed: Array<[number | undefined, string | undefined]> = [];
  const socket: ServerSocket = {
    send: (data) => void sent.push(data),
    close: (code, reason) => void closed.push([code, reason]),
    terminate: () => {},
    readyState: 1,
    protocol: "chat.v2",
    raw: "the runtime's own",
  };
  return { socket, sent, closed };
}

test("requestEnv() puts rota's fields over the runtime's own bindings, which Hono's helpers read", () => {
  const { env } = world({ bindings: { incoming: "node's request", state: "not rota's" } });
  assert.deepEqual(env.state, { ready: true });
  assert.equal(env.worker, WORKER);
  assert.equal((env as unknown as { incoming: string }).incoming, "node's request");
});

test("getConnInfo() tells the client's address in the shape of Hono's ConnInfo", async () => {
  const { env } = world();
  const app = new Hono();
  app.get("/", (c) => c.json(getConnInfo(c)));
  const answer = await app.fetch(new Request("http://x/"), env);
  assert.deepEqual(await answer.json(), {
    remote: { address: "127.0.0.1", port: 50123, addressType: "IPv4", transport: "tcp" },
  });
  assert.equal(getConnInfo({ env }).remote.port, 50123, "a plain fetch app passes { env }");
});

test("rota's helpers say so, in a TypeError, when the request did not come through rota", async () => {
  assert.throws(() => getConnInfo({ env: {} }), {
    name: "TypeError",
    message: /Cannot use rota's getConnInfo as the request did not come through rota/,
  });
  const app = new Hono();
  let error: unknown;
  app.onError((e, c) => {
    error = e;
    return c.text("", 500);
  });
  app.get("/ws", upgradeWebSocket(() => ({})));
  await app.fetch(new Request("http://x/ws", { headers: UPGRADE }), {});
  assert.match(String(error), /TypeError: Cannot use rota's upgradeWebSocket/);
});

test("upgradeWebSocket() hands a request that asks for no WebSocket to the next handler, without creating events", async () => {
  const { env, accepted } = world();
  let created = 0;
  const app = new Hono();
  app.get("/ws", upgradeWebSocket(() => (created++, {})), (c) => c.text("plain", 426));
  const answer = await app.fetch(new Request("http://x/ws"), env);
  assert.deepEqual([answer.status, await answer.text(), created, accepted.length], [426, "plain", 0, 0]);
});

test("upgradeWebSocket() accepts with the first subprotocol offered and drives Hono's WSContext from the socket", async () => {
  const { env, accepted, sockets } = world();
  const seen: string[] = [];
  const app = new Hono();
  app.get(
    "/ws",
    upgradeWebSocket((c) => ({
      onOpen(event, ws) {
        seen.push(`${event.type} ${ws instanceof WSContext} ${ws.protocol} ${ws.url?.pathname} ${c.req.path}`);
        ws.send("welcome");
      },
      onMessage(event, ws) {
        seen.push(`message ${event.data instanceof ArrayBuffer ? "binary" : event.data}`);
        ws.close(4000, "done");
      },
      onClose(event) {
        seen.push(`close ${event.code} ${event.reason}`);
      },
    })),
  );
  const answer = await app.fetch(new Request("http://x/ws", { headers: UPGRADE }), env);
  assert.equal(answer.status, 200, "a placeholder: the runtime sends the 101");
  assert.equal(accepted.length, 1);
  assert.equal(accepted[0].protocol, "chat.v2");
  const { socket, sent, closed } = fakeSocket();
  const { events } = accepted[0];
  events.open(socket);
  assert.equal(sockets.size, 1, "counted by the worker");
  events.message("hi");
  events.message(new ArrayBuffer(2));
  events.close(4000, "done");
  assert.equal(sockets.size, 0);
  assert.deepEqual(seen, ["open true chat.v2 /ws /ws", "message hi", "message binary", "close 4000 done"]);
  assert.deepEqual(sent, ["welcome"]);
  assert.deepEqual(closed, [[4000, "done"], [4000, "done"]]);
});

test("upgradeWebSocket() sends a failing handler to the app's onError when it has one, to rota's log otherwise", async () => {
  for (const withOnError of [true, false]) {
    const { env, accepted, lines } = world();
    const errors: unknown[] = [];
    const app = new Hono();
    app.get(
      "/ws",
      upgradeWebSocket(() => ({
        onMessage() {
          throw new Error("bad message");
        },
        ...(withOnError ? { onError: (event: Event) => void errors.push((event as ErrorEvent).error) } : {}),
      })),
    );
    await app.fetch(new Request("http://x/ws", { headers: UPGRADE }), env);
    accepted[0].events.open(fakeSocket().socket);
    accepted[0].events.message("x");
    await flush();
    if (withOnError) {
      assert.match(String(errors[0]), /bad message/);
      assert.deepEqual(lines, []);
    } else {
      assert.deepEqual(errors, []);
      assert.match(lines.join("\n"), /WebSocket onMessage handler failed: bad message/);
    }
  }
});

test("upgradeWebSocket() is refused with 503 while the worker drains, and with 400 where the connection cannot upgrade", async () => {
  const app = new Hono();
  app.get("/ws", upgradeWebSocket(() => ({})));
  const draining = world({ draining: true });
  const refused = await app.fetch(new Request("http://x/ws", { headers: UPGRADE }), draining.env);
  assert.equal(refused.status, 503);
  assert.deepEqual(await refused.json(), { error: "unavailable", reason: "draining" });
  assert.equal(draining.accepted.length, 0);
  const cannot = await app.fetch(new Request("http://x/ws", { headers: UPGRADE }), world({ canUpgrade: false }).env);
  assert.equal(cannot.status, 400);
});

test("upgradeWebSocket(c, events) called directly returns the answer, and throws for a request that asks for none", async () => {
  const { env, accepted } = world();
  const app = new Hono();
  app.get("/ws", (c) => upgradeWebSocket(c, { onOpen: () => {} }, { protocol: "chat.v1" }));
  const answer = await app.fetch(new Request("http://x/ws", { headers: UPGRADE }), env);
  assert.equal(answer.status, 200);
  assert.equal(accepted[0].protocol, "chat.v1", "the option wins over the client's first choice");
  let error: unknown;
  app.onError((e, c) => {
    error = e;
    return c.text("", 500);
  });
  await app.fetch(new Request("http://x/ws"), env);
  assert.match(String(error), /Cannot upgrade to a WebSocket as the request does not ask for one/);
});
