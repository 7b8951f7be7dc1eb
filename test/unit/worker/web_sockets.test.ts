import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServerSocket, SocketEvents } from "../../../runtime/connection.ts";
import { createLogger } from "../../../runtime/log.ts";
import { CLOSE_HANDSHAKE_MS, GOING_AWAY, OpenSockets } from "../../../runtime/worker/web_sockets.ts";
import { FakeClock, flush } from "../../_fake_clock.ts";

/** A socket that records what it was asked, and closes (reporting to `events`) when told to, if `answers`. */
function fakeSocket(answers: boolean) {
  const calls: string[] = [];
  let events: SocketEvents | undefined;
  const socket: ServerSocket = {
    send: (data) => void calls.push(`send ${data}`),
    close: (code, reason) => {
      calls.push(`close ${code} ${reason}`);
      if (answers) queueMicrotask(() => events?.close(code ?? 1005, reason ?? ""));
    },
    terminate: () => {
      calls.push("terminate");
      queueMicrotask(() => events?.close(1006, ""));
    },
    readyState: 1,
    protocol: "",
    raw: undefined,
  };
  return { socket, calls, attach: (e: SocketEvents) => (events = e) };
}

function recorder() {
  const seen: string[] = [];
  const events: SocketEvents = {
    open: () => void seen.push("open"),
    message: (data) => void seen.push(`message ${data}`),
    close: (code, reason) => void seen.push(`close ${code} ${reason}`),
    error: (error) => void seen.push(`error ${error}`),
  };
  return { events, seen };
}

function sockets() {
  const lines: string[] = [];
  const clock = new FakeClock();
  const open = new OpenSockets({ log: createLogger({ name: "t", write: (line) => lines.push(line) }), clock });
  return { open, clock, lines };
}

test("OpenSockets counts a socket from its open to its close, passing every event on", () => {
  const { open } = sockets();
  const { events, seen } = recorder();
  const tracked = open.track(events);
  const { socket } = fakeSocket(true);
  assert.equal(open.size, 0, "accepted but not yet open: not counted");
  tracked.open(socket);
  assert.equal(open.size, 1);
  tracked.message("hi");
  tracked.close(1000, "bye");
  tracked.close(1000, "again");
  assert.equal(open.size, 0);
  assert.deepEqual(seen, ["open", "message hi", "close 1000 bye"], "close is reported once");
});

test("OpenSockets.idle() resolves once the last open socket closed", async () => {
  const { open } = sockets();
  const a = open.track(recorder().events);
  const b = open.track(recorder().events);
  a.open(fakeSocket(true).socket);
  b.open(fakeSocket(true).socket);
  let idle = false;
  void open.idle().then(() => (idle = true));
  a.close(1000, "");
  await flush();
  assert.equal(idle, false);
  b.close(1000, "");
  await flush();
  assert.equal(idle, true);
});

test("OpenSockets.goAway() closes every socket with 1001 and resolves once they answered", async () => {
  const { open, clock } = sockets();
  const fakes = [fakeSocket(true), fakeSocket(true)];
  for (const fake of fakes) {
    const tracked = open.track(recorder().events);
    fake.attach(tracked);
    tracked.open(fake.socket);
  }
  let done = false;
  void open.goAway().then(() => (done = true));
  await flush();
  assert.equal(done, true, "no need to wait for the clock");
  assert.equal(open.size, 0);
  for (const fake of fakes) assert.deepEqual(fake.calls, [`close ${GOING_AWAY} server going away`]);
  assert.equal(clock.pending, 0, "no timer left behind");
});

test("OpenSockets.goAway() drops the sockets whose clients do not answer the closing handshake in time", async () => {
  const { open, clock } = sockets();
  const silent = fakeSocket(false);
  const tracked = open.track(recorder().events);
  silent.attach(tracked);
  tracked.open(silent.socket);
  let done = false;
  void open.goAway().then(() => (done = true));
  await clock.advance(CLOSE_HANDSHAKE_MS - 1);
  assert.equal(done, false);
  assert.deepEqual(silent.calls, ["close 1001 server going away"]);
  await clock.advance(1);
  assert.equal(done, true);
  assert.deepEqual(silent.calls, ["close 1001 server going away", "terminate"]);
});

test("OpenSockets logs an app handler that throws or rejects, as one line, and keeps the socket", async () => {
  const { open, lines } = sockets();
  const tracked = open.track({
    open: () => {
      throw new Error("open failed\nsecond line");
    },
    message: () => Promise.reject(new Error("message failed")),
    close: () => {},
    error: () => {},
  });
  tracked.open(fakeSocket(true).socket);
  tracked.message("x");
  await flush();
  assert.equal(open.size, 1, "the socket stays");
  assert.match(lines[0], /WebSocket onOpen handler failed: open failed/);
  assert.match(lines[1], /WebSocket onMessage handler failed: message failed/);
  assert.equal(lines.length, 2);
});
