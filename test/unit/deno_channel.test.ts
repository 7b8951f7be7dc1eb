/**
 * The channel of a Deno worker its supervisor spawned itself, and how that
 * worker is started: framing, order, what waits and what is dropped, over an
 * in-memory socket; the command line a worker gets.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LineChannel, type StreamConn } from "../../adapters/_deno/channel.ts";
import { admit, inheritedFlags, workerArguments } from "../../adapters/_deno/spawn.ts";
import { runsOnItsOwn } from "../../adapters/deno.ts";

/** One end of an in-memory stream socket: writes at most `chunk` bytes at a time, reads what the other end wrote. */
class MemoryConn implements StreamConn {
  peer!: MemoryConn;
  written: Uint8Array[] = [];
  #incoming: Uint8Array[] = [];
  #waiting: ((value: Uint8Array | null) => void) | undefined;
  #ended = false;
  closed = false;
  readonly chunk: number;
  readonly slow: boolean;

  /**
   * @param chunk The most one write takes.
   * @param slow Writes settle a timer later, as on a socket whose reader has fallen behind.
   */
  constructor(chunk = Infinity, slow = false) {
    this.chunk = chunk;
    this.slow = slow;
  }

  static pair(chunk = Infinity, slow = false): [MemoryConn, MemoryConn] {
    const a = new MemoryConn(chunk, slow);
    const b = new MemoryConn(chunk, slow);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  read(buffer: Uint8Array): Promise<number | null> {
    const take = (bytes: Uint8Array | null) => {
      if (bytes === null) return null;
      const count = Math.min(bytes.length, buffer.length);
      buffer.set(bytes.subarray(0, count));
      if (count < bytes.length) this.#incoming.unshift(bytes.subarray(count));
      return count;
    };
    const next = this.#incoming.shift();
    if (next) return Promise.resolve(take(next));
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiting = (bytes) => resolve(take(bytes)));
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Error("closed"));
    const count = Math.min(bytes.length, this.chunk);
    const copy = bytes.slice(0, count);
    const land = () => {
      this.written.push(copy);
      this.peer.#receive(copy);
      return count;
    };
    return this.slow ? new Promise((resolve) => setTimeout(() => resolve(land()), 1)) : Promise.resolve(land());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer.#end();
  }

  #receive(bytes: Uint8Array): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting(bytes);
    else this.#incoming.push(bytes);
  }

  #end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(null);
  }
}

describe("the Deno worker's own channel", () => {
  const messages = [{ rota: 1, type: "hello" }, { text: "é ✓ \n inside" }, [1, 2, 3], "last"];

  test("values cross as JSON lines, in order, a burst of them written before the loop turns", async () => {
    const [a, b] = MemoryConn.pair();
    const sender = new LineChannel(a);
    const receiver = new LineChannel(b);
    const got: unknown[] = [];
    receiver.onMessage((raw) => got.push(raw));
    // The connection is already there (a resolved promise settles on a microtask): let it settle first.
    await Promise.resolve();
    const sending = messages.map((message) => sender.send(message));
    // All of it is out synchronously: a loop blocked right now would not hold any of it back.
    assert.equal(a.written.length, messages.length);
    await Promise.all(sending);
    await sender.close();
    await receiver.closed;
    assert.deepEqual(got, messages);
  });

  test("while the reader lags (writes settle late, a few bytes at a time), lines wait their turn: none is cut", async () => {
    const [a, b] = MemoryConn.pair(7, true);
    const sender = new LineChannel(a);
    const receiver = new LineChannel(b);
    const got: unknown[] = [];
    receiver.onMessage((raw) => got.push(raw));
    const sending = [sender.send(messages[0])];
    // Each of the others from a later turn, while the first is still being written.
    for (const message of messages.slice(1)) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      sending.push(sender.send(message));
    }
    await Promise.all(sending);
    await sender.close();
    await receiver.closed;
    assert.deepEqual(got, messages);
  });

  test("messages that arrive before anyone listens wait for the first receiver", async () => {
    const [a, b] = MemoryConn.pair();
    const receiver = new LineChannel(b);
    await new LineChannel(a).send({ early: true });
    await new Promise((resolve) => setTimeout(resolve, 0));
    const got: unknown[] = [];
    receiver.onMessage((raw) => got.push(raw));
    assert.deepEqual(got, [{ early: true }]);
  });

  test("sends wait for the connection, and are written once it is there", async () => {
    const [a, b] = MemoryConn.pair();
    let connect!: (conn: StreamConn) => void;
    const channel = new LineChannel(new Promise<StreamConn>((resolve) => connect = resolve));
    let sent = false;
    const sending = channel.send({ n: 1 }).then(() => sent = true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(sent, false);
    const got: unknown[] = [];
    new LineChannel(b).onMessage((raw) => got.push(raw));
    connect(a);
    await sending;
    assert.deepEqual(got, [{ n: 1 }]);
  });

  test("a connection that fails closes the channel: the close is reported, sends resolve and are dropped", async () => {
    const channel = new LineChannel(Promise.reject(new Error("ENOENT")));
    let closes = 0;
    channel.onClose(() => closes++);
    const sent = channel.send({ n: 1 });
    await channel.closed;
    await sent;
    assert.equal(closes, 1);
    await channel.send({ n: 2 });
  });

  test("the peer's close is reported once, after every line it sent was handed on", async () => {
    const [a, b] = MemoryConn.pair();
    const receiver = new LineChannel(b);
    const events: string[] = [];
    receiver.onMessage((raw) => events.push(JSON.stringify(raw)));
    receiver.onClose(() => events.push("closed"));
    const sender = new LineChannel(a);
    void sender.send({ type: "fatal" });
    await sender.close();
    await receiver.closed;
    assert.deepEqual(events, ['{"type":"fatal"}', "closed"]);
  });

  for (
    const [said, admitted, handedOn] of [
      ["not-the-token", false, []],
      ["the-token", true, [{ type: "hello" }]],
    ] as const
  ) {
    test(`a peer whose first line is ${said}: admitted ${admitted}, the token never handed on`, async () => {
      const [a, b] = MemoryConn.pair();
      const receiver = new LineChannel(b, "the-token");
      const got: unknown[] = [];
      receiver.onMessage((raw) => got.push(raw));
      const peer = new LineChannel(a);
      void peer.send(said);
      void peer.send({ type: "hello" });
      assert.equal(await receiver.admitted, admitted);
      await peer.close();
      await receiver.closed;
      assert.deepEqual(got, handedOn);
    });
  }

  test("past 16 KiB in one turn, lines wait for the writes before them", async () => {
    const [a, b] = MemoryConn.pair();
    const sender = new LineChannel(a);
    const got: unknown[] = [];
    new LineChannel(b).onMessage((raw) => got.push(raw));
    await Promise.resolve();
    const big = "x".repeat(20 * 1024);
    const sending = [sender.send("small"), sender.send(big), sender.send("after")];
    assert.equal(a.written.length, 1, "only the small line went at once");
    await Promise.all(sending);
    await sender.close();
    assert.deepEqual(got, ["small", big, "after"]);
  });

  test("a line that is not JSON is handed on as its text, for the receiver's validation to refuse", async () => {
    const [a, b] = MemoryConn.pair();
    const receiver = new LineChannel(b);
    const got: unknown[] = [];
    receiver.onMessage((raw) => got.push(raw));
    await a.write(new TextEncoder().encode("not json\n"));
    a.close();
    await receiver.closed;
    assert.deepEqual(got, ["not json"]);
  });
});

describe("how the supervisor starts a Deno worker itself", () => {
  test("the worker takes on the supervisor's unstable and V8 flags, and nothing after its program", () => {
    assert.deepEqual(
      inheritedFlags([
        "/usr/bin/deno",
        "run",
        "-A",
        "-c",
        "deno.json",
        "--unstable-net",
        "--v8-flags=--max-old-space-size=300",
        "--cached-only",
        "--unstable-kv",
        "main.ts",
        "serve",
        "--unstable-cron",
        "app.ts",
      ], 3),
      ["--unstable-net", "--v8-flags=--max-old-space-size=300", "--unstable-kv"],
    );
    // A program given no argument (as `serve()` from a user's own program may be).
    assert.deepEqual(inheritedFlags(["deno", "run", "-A", "--unstable-net", "prog.ts"], 0), ["--unstable-net"]);
    assert.deepEqual(inheritedFlags([], 0), []);
  });

  test("all permissions, --unstable-net once, one --v8-flags: a young generation of 2 MiB and a heap limit with --max-memory, unless the user set them", () => {
    assert.deepEqual(workerArguments("/r/main.ts", ["--unstable-net"], 0), [
      "run",
      "-A",
      "--unstable-net",
      "--v8-flags=--min-semi-space-size=2",
      "/r/main.ts",
    ]);
    assert.match(
      workerArguments("/r/main.ts", ["--unstable-kv"], 512 * 2 ** 20).join(" "),
      /^run -A --unstable-net --unstable-kv --v8-flags=--min-semi-space-size=2,--max-old-space-size=\d+ \/r\/main\.ts$/,
    );
    assert.deepEqual(
      workerArguments("/r/main.ts", ["--v8-flags=--max-old-space-size=300,--max-semi-space-size=8"], 512 * 2 ** 20),
      ["run", "-A", "--unstable-net", "--v8-flags=--max-old-space-size=300,--max-semi-space-size=8", "/r/main.ts"],
    );
    assert.deepEqual(
      workerArguments("/r/main.ts", [], 512 * 2 ** 20, "--max-old-space-size=100"),
      ["run", "-A", "--unstable-net", "--v8-flags=--min-semi-space-size=2", "/r/main.ts"],
    );
    // Nothing left to say: no --v8-flags at all (an empty one makes V8 refuse the flag '' and the worker exit).
    assert.deepEqual(workerArguments("/r/main.ts", [], 0, "--max-semi-space-size=4"), [
      "run",
      "-A",
      "--unstable-net",
      "/r/main.ts",
    ]);
  });

  test("the worker's connection is taken whichever connects first; a stranger's, silent or wrong, is closed", async () => {
    const [strangerEnd, strangerSide] = MemoryConn.pair();
    const [silentEnd, silentSide] = MemoryConn.pair();
    const [workerEnd, workerSide] = MemoryConn.pair();
    const queue = [strangerSide, silentSide, workerSide];
    let closeListener!: () => void;
    const closed = new Promise<never>((_, reject) => closeListener = () => reject(new Error("closed")));
    const listener = { accept: () => queue.length > 0 ? Promise.resolve(queue.shift()!) : closed };
    const got: unknown[] = [];
    const admitting = admit(listener, "t0k3n", (raw) => got.push(raw));
    void new LineChannel(strangerEnd).send("guess");
    const worker = new LineChannel(workerEnd);
    void worker.send("t0k3n");
    void worker.send({ type: "hello" });
    const chosen = await admitting;
    assert.ok(chosen);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(got, [{ type: "hello" }]);
    assert.equal(strangerSide.closed, true, "the stranger who said something else");
    assert.equal(silentSide.closed, true, "the one who said nothing, once the worker was chosen");
    assert.equal(workerSide.closed, false);
    void silentEnd;
    closeListener();
  });

  test("a listener closed before any worker connected gives no channel", async () => {
    const listener = { accept: () => Promise.reject(new Error("closed")) };
    assert.equal(await admit(listener, "t0k3n", () => {}), undefined);
  });

  test("only rota's sources and a package in node_modules are spawned without node:cluster", () => {
    assert.equal(runsOnItsOwn("/home/me/rota/main.ts"), true);
    assert.equal(runsOnItsOwn("/srv/app/node_modules/rota/dist/main.js"), true);
    assert.equal(runsOnItsOwn("/root/.cache/deno/npm/registry.npmjs.org/rota/0.1.0/dist/main.js"), false);
  });
});
