/**
 * The operations host (admin listener, control socket, systemd notify) in real
 * processes of each runtime, against real sockets: TCP on 127.0.0.1, unix
 * stream sockets, and a unix datagram socket standing in for systemd.
 */

import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { callControl } from "../../adapters/_node/control.ts";
import { encodeControl, parseControlResponse } from "../../runtime/ops/control.ts";
import { ensureDebianPackage } from "../_apt.ts";
import { FIXTURES, get, ROOT } from "../_harness.ts";
import { killProbes, LineProcess, SCRIPT_RUNTIMES } from "../_probe.ts";

const PROBE = join(FIXTURES, "ops_probe.ts");
const LISTENER = join(FIXTURES, "notify_listener.py");

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "rota-ops-"));
}

async function probe(
  runtime: (typeof SCRIPT_RUNTIMES)[number],
  args: string[],
  env: Record<string, string | undefined> = {},
) {
  return new LineProcess([...(await runtime.command(PROBE)), ...args], { env });
}

/** A datagram socket that records what arrives, as systemd's would. */
async function notifyListener(address: string): Promise<LineProcess> {
  const listener = new LineProcess(["python3", LISTENER, address]);
  await listener.line("the listener to bind", (line) => line.listening === address);
  return listener;
}

function datagrams(listener: LineProcess): Array<{ data: string; pid: number; fds: number }> {
  return listener.lines.filter((line) => typeof line.data === "string") as Array<
    { data: string; pid: number; fds: number }
  >;
}

after(killProbes);
// The notify tests need systemd's own sender and a datagram listener (python3, which the machine has).
before(() => void ensureDebianPackage("/usr/bin/systemd-notify", "systemd"));

for (const runtime of SCRIPT_RUNTIMES) {
  describe(`the operations host on ${runtime.name}`, { timeout: 120_000 }, () => {
    test("the admin listener serves fetch on loopback, metrics a parser reads, and turns a throw into a 500", async () => {
      const dir = scratch();
      const server = await probe(runtime, ["serve", join(dir, "c.sock")]);
      try {
        const { port, runtime: reported } = await server.step("listening") as { port: number; runtime: string };
        assert.equal(reported, runtime.name.startsWith("node") ? "node" : runtime.name);
        const answer = await get(`http://127.0.0.1:${port}/echo`);
        assert.equal(answer.status, 200);
        assert.deepEqual(JSON.parse(answer.body), { runtime: reported, method: "GET", path: "/echo" });
        const scrape = await get(`http://127.0.0.1:${port}/metrics`);
        assert.equal(scrape.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        const families = parsePrometheusTextFormat(scrape.body);
        const info = families.find((f) => f.name === "rota_info")!.metrics[0];
        assert.equal(info.labels?.runtime, reported);
        assert.equal((await get(`http://127.0.0.1:${port}/_rota/ready`)).status, 200);
        assert.match((await get(`http://127.0.0.1:${port}/`)).body, /<!doctype html>/);
        assert.equal((await get(`http://127.0.0.1:${port}/boom`)).status, 500);
      } finally {
        server.kill("SIGKILL");
        await server.exited;
      }
    });

    test("the control socket is a 0600 unix socket answering status, reload and stop as JSON lines", async () => {
      const dir = join(scratch(), "private");
      const path = join(dir, "8000.sock");
      const server = await probe(runtime, ["serve", path]);
      const { self } = await server.step("listening");
      assert.equal(self, server.child.pid, "the runtime's own client reached its own socket");
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.ok(statSync(path).isSocket());
      assert.equal(statSync(dir).mode & 0o777, 0o700, "a directory rota creates is private");
      const status = await callControl(path, { command: "status" });
      assert.ok(status.ok && status.command === "status");
      assert.equal(status.snapshot.pid, server.child.pid);
      assert.equal(status.snapshot.workers.length, 2);
      assert.deepEqual(await callControl(path, { command: "reload" }), { ok: true, command: "reload" });
      assert.deepEqual(await callControl(path, { command: "stop" }), { ok: true, command: "stop" });
      assert.deepEqual(await server.exited, { code: 0, signal: null });
      assert.throws(() => statSync(path), /ENOENT/, "closing removes the socket file");
    });

    test("a client that half-closes after its request (as socat and nc -U do) still gets the answer", async () => {
      const path = join(scratch(), "8000.sock");
      const server = await probe(runtime, ["serve", path]);
      await server.step("listening");
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(path);
        let text = "";
        const timer = setTimeout(
          () => socket.destroy(new Error(`no end of the answer in 10 s, read: ${text}`)),
          10_000,
        );
        socket.setEncoding("utf8");
        socket.on("data", (chunk) => text += chunk);
        socket.on("end", () => {
          clearTimeout(timer);
          resolve(text);
        });
        socket.on("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        // A reload, whose answer comes only once it is done (50 ms in the probe), well after the client's end.
        socket.end(encodeControl({ command: "reload" }));
      });
      assert.deepEqual(parseControlResponse(answer.trim()), { ok: true, value: { ok: true, command: "reload" } });
      assert.deepEqual(await callControl(path, { command: "stop" }), { ok: true, command: "stop" });
      assert.deepEqual(await server.exited, { code: 0, signal: null });
    });

    test("a second process cannot take a live control socket but replaces one left by a killed process", async () => {
      const path = join(scratch(), "c.sock");
      const first = await probe(runtime, ["serve", path]);
      await first.step("listening");
      const second = await probe(runtime, ["serve", path]);
      const refused = await second.step("listen-failed");
      assert.equal(refused.code, "ERR_ROTA_CONTROL");
      assert.match(String(refused.message), /another rota is listening there/);
      assert.equal((await second.exited).code, 1);
      first.kill("SIGKILL");
      await first.exited;
      assert.ok(statSync(path).isSocket(), "SIGKILL left the socket file behind");
      const third = await probe(runtime, ["serve", path]);
      await third.step("listening");
      assert.deepEqual(await callControl(path, { command: "stop" }), { ok: true, command: "stop" });
      assert.equal((await third.exited).code, 0);
    });

    test("the control socket refuses a directory others may write to", async () => {
      const dir = join(scratch(), "open");
      mkdirSync(dir);
      chmodSync(dir, 0o777);
      const server = await probe(runtime, ["serve", join(dir, "c.sock")]);
      const refused = await server.step("listen-failed");
      assert.match(String(refused.message), /others may write to it \(mode 777\)/);
      assert.equal((await server.exited).code, 1);
    });

    test("notify sends the exact states to a datagram socket at a path, with rota's credentials", async () => {
      const address = join(scratch(), "notify");
      const listener = await notifyListener(address);
      try {
        const sender = await probe(runtime, [
          "notify",
          "READY=1\\nSTATUS=2 of 2 workers ready\\nMAINPID=4242",
          "RELOADING=1\\nSTATUS=reloading",
          "WATCHDOG=1",
          "STOPPING=1",
        ], { NOTIFY_SOCKET: address });
        assert.deepEqual(await sender.exited, { code: 0, signal: null }, sender.stderr);
        assert.equal(sender.lines.filter((line) => line.step === "notified").length, 4, JSON.stringify(sender.lines));
        const received = datagrams(listener);
        const states = received.filter((d) => d.data !== "BARRIER=1");
        assert.deepEqual(states.map((d) => d.data), [
          "READY=1\nSTATUS=2 of 2 workers ready\nMAINPID=4242",
          "RELOADING=1\nSTATUS=reloading",
          "WATCHDOG=1",
          "STOPPING=1",
        ]);
        // As root, systemd-notify sends with its parent's credentials: systemd sees rota.
        for (const state of states) assert.equal(state.pid, sender.child.pid);
        const barriers = received.filter((d) => d.data === "BARRIER=1");
        assert.equal(barriers.length, 4, "each state waited for the receiver (sd_notify_barrier)");
        assert.ok(barriers.every((b) => b.fds === 1));
      } finally {
        listener.kill();
        await listener.exited;
      }
    });

    test("notify reaches an abstract-namespace socket named @…", async () => {
      const address = `@rota-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const listener = await notifyListener(address);
      try {
        const sender = await probe(runtime, ["notify", "READY=1\\nSTATUS=ok"], { NOTIFY_SOCKET: address });
        assert.equal((await sender.exited).code, 0);
        assert.deepEqual(datagrams(listener).filter((d) => d.data !== "BARRIER=1").map((d) => d.data), [
          "READY=1\nSTATUS=ok",
        ]);
      } finally {
        listener.kill();
        await listener.exited;
      }
    });

    test("notify does nothing without NOTIFY_SOCKET and says clearly when systemd-notify is missing", async () => {
      const quiet = await probe(runtime, ["notify", "READY=1"], { NOTIFY_SOCKET: undefined });
      assert.equal((await quiet.exited).code, 0);
      assert.equal(quiet.lines.filter((line) => line.step === "notified").length, 1);
      const address = join(scratch(), "notify");
      const listener = await notifyListener(address);
      try {
        // A PATH with nothing on it: the runtime itself is started by its absolute path.
        const missing = await probe(runtime, ["notify", "READY=1"], { NOTIFY_SOCKET: address, PATH: scratch() });
        assert.equal((await missing.exited).code, 0, missing.stderr);
        const failed = await missing.step("notify-failed");
        assert.equal(failed.code, "ERR_ROTA_NOTIFY");
        assert.equal(failed.message, "systemd-notify is not installed (Debian and Ubuntu: apt-get install systemd)");
        assert.deepEqual(datagrams(listener), []);
      } finally {
        listener.kill();
        await listener.exited;
      }
    });
  });
}

test("Deno with --unstable-net notifies from its own pid, with no helper process", async () => {
  const address = join(scratch(), "notify");
  const listener = await notifyListener(address);
  try {
    const deno = join(ROOT, "node_modules", ".bin", "deno");
    const sender = new LineProcess([
      deno,
      "run",
      "-A",
      "--unstable-net",
      PROBE,
      "notify",
      "READY=1\\nSTATUS=ok",
      "WATCHDOG=1",
    ], {
      env: { NOTIFY_SOCKET: address, PATH: scratch() },
    });
    assert.deepEqual(await sender.exited, { code: 0, signal: null }, sender.stderr);
    assert.equal(sender.lines.filter((line) => line.step === "notified").length, 2, JSON.stringify(sender.lines));
    assert.deepEqual(datagrams(listener), [
      { data: "READY=1\nSTATUS=ok", pid: sender.child.pid, fds: 0 },
      { data: "WATCHDOG=1", pid: sender.child.pid, fds: 0 },
    ], "no barrier: the sender is rota itself, still alive when systemd reads it");
  } finally {
    listener.kill();
    await listener.exited;
  }
});

test("callControl() says plainly when no rota listens at the path", async () => {
  await assert.rejects(
    callControl(join(scratch(), "nobody.sock"), { command: "status" }),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_ROTA_CONTROL");
      assert.match(error.message, /no rota is listening there/);
      return true;
    },
  );
});
