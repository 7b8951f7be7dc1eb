import assert from "node:assert/strict";
import { test } from "node:test";
import type { Listener } from "../../../runtime/host.ts";
import { ServerSwitch, shouldAccept } from "../../../runtime/worker/server_switch.ts";

function fakeHost() {
  const calls: string[] = [];
  const listener: Listener = {
    stopAccepting: () => void calls.push("stopAccepting"),
    pause: () => Promise.resolve(void calls.push("pause")),
    resume: () => Promise.resolve(void calls.push("resume")),
    close: () => Promise.resolve(),
    closeAll: () => {},
  };
  const host = {
    listen: () => {
      calls.push("listen");
      return Promise.resolve(listener);
    },
  };
  return { host, calls };
}

test("shouldAccept() accepts once initialised, or while no other worker is ready", () => {
  assert.deepEqual(
    [[true, 0], [true, 3], [false, 0], [false, 1]].map(([i, p]) => shouldAccept(i as boolean, p as number)),
    [
      true,
      true,
      true,
      false,
    ],
  );
});

test("ServerSwitch listens when first wanted, then pauses and resumes, reporting each change once done", async () => {
  const { host, calls } = fakeHost();
  const events: string[] = [];
  const server = new ServerSwitch(host, {
    hostname: "127.0.0.1",
    port: 1,
    fetch: () => Promise.resolve(new Response()),
  }, { onChange: (e) => events.push(e) });
  await server.want(false);
  assert.deepEqual(calls, [], "not wanted: never listened");
  await server.want(true);
  await server.want(true);
  await server.want(false);
  await server.want(true);
  assert.deepEqual(calls, ["listen", "pause", "resume"]);
  assert.deepEqual(events, ["listening", "paused", "listening"]);
  void server.want(false);
  await server.want(true);
  assert.deepEqual(calls, ["listen", "pause", "resume"], "wishes that cancel out change nothing: the last wins");
  assert.equal(server.accepting, true);
});

test("ServerSwitch.close() waits for a change under way, and none starts after it", async () => {
  const { host, calls } = fakeHost();
  let release!: () => void;
  const slowHost = {
    listen: () => new Promise<Listener>((resolve) => (release = () => void host.listen().then(resolve))),
  };
  const events: string[] = [];
  const fetch = () => Promise.resolve(new Response());
  const server = new ServerSwitch(slowHost, { hostname: "127.0.0.1", port: 1, fetch }, {
    onChange: (e) => events.push(e),
  });
  void server.want(true);
  await new Promise((resolve) => setImmediate(resolve));
  const closing = server.close();
  release();
  assert.ok(await closing, "the listen under way finished, so the drain can close it");
  await server.want(false);
  assert.deepEqual(calls, ["listen"], "no pause after close: the drain owns the server now");
  assert.deepEqual(events, [], "nothing is reported once closed");

  const never = new ServerSwitch(host, { hostname: "127.0.0.1", port: 1, fetch }, { onChange: () => {} });
  void never.want(true);
  assert.equal(await never.close(), undefined, "closed before the change began: it never listens");
});

test("ServerSwitch waits for beforeListen before each listen and resume, never before a pause", async () => {
  const { host, calls } = fakeHost();
  const fetch = () => Promise.resolve(new Response());
  const server = new ServerSwitch(host, { hostname: "127.0.0.1", port: 1, fetch }, {
    onChange: () => {},
    beforeListen: () => Promise.resolve(void calls.push("beforeListen")),
  });
  await server.want(true);
  await server.want(false);
  await server.want(true);
  assert.deepEqual(calls, ["beforeListen", "listen", "pause", "beforeListen", "resume"]);
});
