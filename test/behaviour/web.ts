/**
 * The runtime reaches the app: the client's address (`getConnInfo`) and
 * WebSockets (`upgradeWebSocket`), through rota's helpers and through the
 * runtime's own Hono helpers, against real rota processes of one runtime,
 * with Node's own WebSocket client. Each `<runtime>.test.ts` beside this file
 * runs it for one target.
 */

import assert from "node:assert/strict";
import http from "node:http";
import { after, describe, test } from "node:test";
import { alive, type Answer, killLeftovers, Rota, type Target, TARGETS, waitFor } from "../_harness.ts";

/** A GET over a new connection, with the local port the client used for it. */
function getFromPort(url: string, timeoutMs = 10000): Promise<Answer & { localPort: number }> {
  return new Promise((done, fail) => {
    let localPort = 0;
    const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => done({ status: response.statusCode ?? 0, headers: response.headers, body, localPort }));
      response.on("error", fail);
    });
    request.on("socket", (socket) => socket.once("connect", () => (localPort = socket.localPort ?? 0)));
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", fail);
  });
}

/** How a WebSocket ended, as the client saw it. */
interface Closed {
  code: number;
  reason: string;
  at: number;
}

/** A client WebSocket whose messages are read one at a time, every wait bounded. */
class Client {
  readonly socket: WebSocket;
  readonly closed: Promise<Closed>;
  #queue: unknown[] = [];
  #waiting: Array<(data: unknown) => void> = [];

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => {
      const waiter = this.#waiting.shift();
      if (waiter) waiter(event.data);
      else this.#queue.push(event.data);
    });
    this.closed = new Promise((done) =>
      socket.addEventListener("close", (event) => done({ code: event.code, reason: event.reason, at: Date.now() }))
    );
  }

  /** Open a WebSocket; rejects when the handshake fails or takes longer than `timeoutMs`. */
  static open(url: string, protocols: string[] = [], timeoutMs = 10000): Promise<Client> {
    return new Promise((done, fail) => {
      const socket = new WebSocket(url, protocols);
      const timer = setTimeout(() => {
        socket.close();
        fail(new Error(`WebSocket ${url} did not open within ${timeoutMs}ms`));
      }, timeoutMs);
      socket.addEventListener("open", () => {
        clearTimeout(timer);
        done(new Client(socket));
      }, { once: true });
      socket.addEventListener("error", () => {
        clearTimeout(timer);
        fail(new Error(`WebSocket ${url} failed to open`));
      }, { once: true });
    });
  }

  /** The next message, within `timeoutMs`. */
  next(timeoutMs = 10000): Promise<unknown> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no WebSocket message within ${timeoutMs}ms`)), timeoutMs);
      this.#waiting.push((data) => {
        clearTimeout(timer);
        done(data);
      });
    });
  }

  /** Send `text` and read the answer. */
  async ask(text: string): Promise<unknown> {
    this.socket.send(text);
    return await this.next();
  }

  /** Wait for the close, within `timeoutMs`. */
  async ended(timeoutMs = 10000): Promise<Closed> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`the WebSocket was not closed within ${timeoutMs}ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** An upgrade request sent by hand, for answers a WebSocket client does not show (the status of a refusal). */
function upgradeRequest(url: string, extra: Record<string, string> = {}): Promise<Answer> {
  return new Promise((done, fail) => {
    const request = http.get(url, {
      agent: false,
      timeout: 10000,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...extra,
      },
    }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => done({ status: response.statusCode ?? 0, headers: response.headers, body }));
      response.on("error", fail);
    });
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      done({ status: response.statusCode ?? 0, headers: response.headers, body: "" });
    });
    request.on("timeout", () => request.destroy(new Error(`upgrade ${url} timed out`)));
    request.on("error", fail);
  });
}

/** An upgrade request on `agent`'s connection, and whether it went out on a connection already open. */
function upgradeOn(agent: http.Agent, url: string): Promise<{ answer: Answer; reused: boolean }> {
  return new Promise((done, fail) => {
    const request = http.get(url, {
      agent,
      timeout: 10000,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () =>
        done({
          answer: { status: response.statusCode ?? 0, headers: response.headers, body },
          reused: request.reusedSocket,
        }));
    });
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      done({
        answer: { status: response.statusCode ?? 0, headers: response.headers, body: "" },
        reused: request.reusedSocket,
      });
    });
    request.on("timeout", () => request.destroy(new Error(`upgrade ${url} timed out`)));
    request.on("error", fail);
  });
}

/**
 * Register the suite for one target.
 *
 * @param key A key of `TARGETS`.
 */
export function webSuite(key: keyof typeof TARGETS): void {
  const target: Target = TARGETS[key]();
  const onBun = key === "bun";

  describe(`client address and WebSockets on ${target.name}`, { timeout: 120_000 }, () => {
    after(killLeftovers);

    test("getConnInfo from rota tells the app the client's address, 127.0.0.1, and the client's own port", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      for (let i = 0; i < 3; i++) {
        const answer = await getFromPort(`${rota.url}/ip`);
        assert.equal(answer.status, 200, answer.body);
        assert.deepEqual(JSON.parse(answer.body), {
          remote: { address: "127.0.0.1", port: answer.localPort, addressType: "IPv4", transport: "tcp" },
        });
      }
      assert.equal((await rota.stop()).code, 0);
    });

    test("the runtime's own getConnInfo from Hono works unchanged", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      const answer = await getFromPort(`${rota.url}/hono-ip`);
      assert.equal(answer.status, 200, `${answer.body}\n${rota.log}`);
      const { remote } = JSON.parse(answer.body);
      assert.equal(remote.address, "127.0.0.1");
      assert.equal(remote.port, answer.localPort);
      assert.equal((await rota.stop()).code, 0);
    });

    test("upgradeWebSocket opens a real WebSocket: text and binary both ways, the first offered subprotocol", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      const [pid] = rota.workerPids();
      const client = await Client.open(`ws://127.0.0.1:${rota.port}/ws`, ["chat.v2", "chat.v1"]);
      assert.equal(client.socket.protocol, "chat.v2");
      assert.deepEqual(JSON.parse(String(await client.next())), { hello: pid, protocol: "chat.v2", url: "/ws" });
      assert.equal(await client.ask("ping"), `${pid}:ping`);
      client.socket.send(new Uint8Array([1, 2, 3]));
      const reply = await client.next();
      assert.ok(reply instanceof ArrayBuffer, "binary comes back as binary");
      assert.deepEqual([...new Uint8Array(reply)], [3, 2, 1]);
      // A handler that throws is logged; the socket stays up.
      client.socket.send("throw");
      await rota.waitForLog(/WebSocket onMessage handler failed: handler failed on purpose/);
      assert.equal(await client.ask("still there?"), `${pid}:still there?`);
      // The app closes with its own code and reason.
      client.socket.send("close");
      assert.deepEqual(
        (({ code, reason }) => ({ code, reason }))(await client.ended()),
        { code: 4000, reason: "asked to" },
      );
      assert.equal((await rota.stop()).code, 0);
    });

    test("subprotocols offered without a space after the comma (RFC 6455 allows it) are accepted too", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      const answer = await upgradeRequest(`${rota.url}/ws`, { "sec-websocket-protocol": "chat.v2,chat.v1" });
      assert.equal(answer.status, 101);
      assert.equal(answer.headers["sec-websocket-protocol"], "chat.v2");
      assert.equal((await rota.stop()).code, 0);
    });

    test("a WebSocket message above 16 MiB closes the socket with 1009, and one of 16 MiB passes", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      const client = await Client.open(`ws://127.0.0.1:${rota.port}/ws`);
      await client.next();
      client.socket.send(new Uint8Array(16 * 1024 * 1024));
      const reply = await client.next(30000);
      assert.ok(reply instanceof ArrayBuffer && reply.byteLength === 16 * 1024 * 1024, "the largest message echoed");
      client.socket.send(new Uint8Array(16 * 1024 * 1024 + 1));
      assert.equal((await client.ended(30000)).code, 1009, "message too big");
      assert.equal((await rota.stop()).code, 0);
    });

    test("a WebSocket route answers a plain request through the next handler, and a refusal reaches the client", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      const plain = await getFromPort(`${rota.url}/ws`);
      assert.deepEqual([plain.status, plain.body], [426, "this route speaks WebSocket"]);
      const refused = await upgradeRequest(`${rota.url}/ws?token=no`);
      assert.equal(refused.status, 401);
      assert.equal(refused.headers["x-refused"], "yes");
      await assert.rejects(Client.open(`ws://127.0.0.1:${rota.port}/ws?token=no`));
      assert.equal((await rota.stop()).code, 0);
    });

    test("a request asking for another protocol (h2c) is answered by the app over HTTP/1.1", async () => {
      const rota = await Rota.serve(target, "web.js", ["--workers", "1"]);
      const [pid] = rota.workerPids();
      const answer = await new Promise<Answer>((done, fail) => {
        const request = http.get(`${rota.url}/`, {
          agent: false,
          timeout: 10000,
          headers: {
            connection: "Upgrade, HTTP2-Settings",
            upgrade: "h2c",
            "http2-settings": "AAMAAABkAARAAAAAAAIAAAAA",
          },
        }, (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk) => (body += chunk));
          response.on("end", () => done({ status: response.statusCode ?? 0, headers: response.headers, body }));
        });
        request.on("upgrade", () => fail(new Error("the server switched protocols")));
        request.on("timeout", () => request.destroy(new Error("timed out")));
        request.on("error", fail);
      });
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(JSON.parse(answer.body), { pid });
      assert.equal((await rota.stop()).code, 0);
    });

    test("a WebSocket stays open and working while its worker drains, gets 1001 at the graceful timeout, and new ones go to the new worker", async () => {
      const graceful = 3000;
      const rota = await Rota.serve(target, "web.js", ["--workers", "1", "--graceful-timeout", `${graceful}ms`]);
      const [old] = rota.workerPids();
      const first = await Client.open(`ws://127.0.0.1:${rota.port}/ws`);
      assert.equal(JSON.parse(String(await first.next())).hello, old);

      rota.signal("SIGHUP");
      await rota.waitForLog(/worker 0\.0[^\]]*\] draining/, 60000);
      const drainSeen = Date.now();
      assert.equal(await first.ask("during the drain"), `${old}:during the drain`, "the old socket still works");

      // New sockets open on the new worker (on Bun the old worker may still take one in its first
      // moments of draining: it refuses the upgrade, and the client tries again).
      const second = await waitFor(
        "a WebSocket on the new worker",
        async () => {
          const client = await Client.open(`ws://127.0.0.1:${rota.port}/ws`);
          return client;
        },
        20000,
        100,
      );
      const fresh = JSON.parse(String(await second.next())).hello;
      assert.notEqual(fresh, old);
      assert.equal(await first.ask("still during the drain"), `${old}:still during the drain`);

      const closed = await first.ended(graceful + 10000);
      assert.equal(closed.code, 1001, "going away");
      assert.ok(
        closed.at - drainSeen >= graceful - 1000,
        `closed ${closed.at - drainSeen}ms after the drain began, not at the graceful timeout`,
      );
      assert.match(rota.log, /graceful timeout of 3000ms passed; closing 1 WebSocket with 1001/);
      await waitFor("the old worker to exit", () => !alive(old), 10000);
      assert.equal(await second.ask("after"), `${fresh}:after`, "the new worker's socket is untouched");
      second.socket.close();
      await second.ended();
      assert.equal((await rota.stop()).code, 0);
    });

    // hono/bun is for Bun only: the other runtimes have no such test.
    if (onBun) {
      test("Hono's own upgradeWebSocket from hono/bun works unchanged when the app exports Bun's websocket handlers, and its sockets get 1001 at the drain too", async () => {
        const rota = await Rota.serve(target, "web.js", ["--workers", "1", "--graceful-timeout", "2s"]);
        const [old] = rota.workerPids();
        const client = await Client.open(`ws://127.0.0.1:${rota.port}/bun-ws`);
        assert.deepEqual(JSON.parse(String(await client.next())), { hello: old, via: "hono/bun" });
        assert.equal(await client.ask("hi"), "bun:hi");
        rota.signal("SIGHUP");
        await rota.waitForLog(/worker 0\.0[^\]]*\] draining/, 60000);
        assert.equal(await client.ask("draining"), "bun:draining");
        assert.equal((await client.ended(15000)).code, 1001);
        assert.match(rota.log, /closing 1 WebSocket with 1001/);
        assert.equal((await rota.stop()).code, 0);
      });
    }

    test("a WebSocket upgrade reaching a draining worker is refused with 503, so that the client retries elsewhere", async () => {
      // The upgrade must go out on a keep-alive connection to the old worker within the 500 ms in which a
      // draining worker still answers on idle connections; on a loaded machine the scenario may miss that
      // window (the connection is then closed and the request opens a new one): it is tried up to 3 times.
      for (let attempt = 1; attempt <= 3; attempt++) {
        const rota = await Rota.serve(target, "web.js", ["--workers", "1", "--graceful-timeout", "2s"]);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const held = await new Promise<http.IncomingMessage>((done, fail) =>
            http.get(`${rota.url}/`, { agent }, done).on("error", fail)
          );
          held.resume();
          await new Promise((r) => held.once("end", r));
          const first = await Client.open(`ws://127.0.0.1:${rota.port}/ws`);
          await first.next();
          rota.signal("SIGHUP");
          await rota.waitForLog(/worker 0\.0[^\]]*\] draining/, 60000);
          const { answer, reused } = await upgradeOn(agent, `${rota.url}/ws`);
          if (!reused) continue;
          assert.equal(answer.status, 503, answer.body);
          assert.deepEqual(JSON.parse(answer.body), { error: "unavailable", reason: "draining" });
          assert.equal(answer.headers["retry-after"], "1");
          assert.equal((await first.ended(15000)).code, 1001, "the socket opened before the drain still gets 1001");
          assert.equal((await rota.stop()).code, 0);
          return;
        } finally {
          agent.destroy();
          await rota.stop();
        }
      }
      assert.fail("three times the keep-alive connection was closed before the upgrade went out on it");
    });
  });
}
