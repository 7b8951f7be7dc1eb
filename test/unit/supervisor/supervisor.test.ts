import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProcessExit, SpawnRequest, SupervisorHost, WorkerProcess } from "../../../runtime/host.ts";
import { RotaError } from "../../../runtime/errors.ts";
import { createLogger } from "../../../runtime/log.ts";
import { resolveOptions } from "../../../runtime/options.ts";
import type { SupervisorMessage } from "../../../runtime/protocol.ts";
import { Supervisor } from "../../../runtime/supervisor/supervisor.ts";
import { FakeClock, flush } from "../../_fake_clock.ts";

/** A worker process that exists only in memory: the test speaks for it. */
class FakeWorker implements WorkerProcess {
  readonly pid: number;
  readonly request: SpawnRequest;
  readonly received: SupervisorMessage[] = [];
  readonly signals: string[] = [];
  exited = false;
  /** Whether SIGKILL ends it at once; a real process exits a moment later. */
  exitsOnKill = true;

  constructor(pid: number, request: SpawnRequest) {
    this.pid = pid;
    this.request = request;
  }
  send(message: SupervisorMessage): void {
    this.received.push(message);
  }
  /** What it was told to do: every message but the count of ready peers and the rota's health. */
  get orders(): SupervisorMessage[] {
    return this.received.filter((m) => m.type !== "peers" && m.type !== "health");
  }
  /** The last count of ready peers it was told, if any. */
  get peers(): number | undefined {
    const told = this.received.filter((m) => m.type === "peers");
    return (told.at(-1) as { ready: number } | undefined)?.ready;
  }
  kill(signal: "SIGTERM" | "SIGKILL"): void {
    this.signals.push(signal);
    if (signal === "SIGKILL" && this.exitsOnKill) this.exit({ code: null, signal });
  }
  say(message: Record<string, unknown>): void {
    this.request.onMessage({ rota: 1, ...message });
  }
  ready(): void {
    this.say({ type: "listening" });
    this.say({ type: "init-ok", attempt: 1 });
  }
  exit(exit: ProcessExit = { code: 0, signal: null }): void {
    if (this.exited) return;
    this.exited = true;
    this.request.onExit(exit);
  }
}

function fakeHost(helloOnSpawn = true) {
  const clock = new FakeClock();
  const spawned: FakeWorker[] = [];
  const lines: string[] = [];
  /** Resident memory of each fake worker, by pid, as the supervisor measures it. */
  const rss = new Map<number, number>();
  const host = {
    runtime: "node",
    clock,
    pid: () => 1,
    args: () => [],
    exit: (code: number): never => {
      throw new Error(`exit(${code}) is not the supervisor's to call`);
    },
    env: () => ({}),
    parallelism: () => 2,
    isTerminal: () => false,
    writeLog: (line: string) => lines.push(line),
    writeOut: () => {},
    importModule: () => Promise.reject(new Error("not used")),
    onSignal: () => () => {},
    readTextFile: () => Promise.reject(new Error("not used")),
    writeTextFileAtomic: () => Promise.reject(new Error("not used")),
    watchFile: () => () => {},
    prepare: () => Promise.resolve([]),
    residentMemory: (pid: number) => rss.get(pid),
    ops: {
      serveHttp: () => Promise.reject(new Error("not used")),
      listenControl: () => Promise.reject(new Error("not used")),
      callControl: () => Promise.reject(new Error("not used")),
      notify: () => Promise.resolve(),
      uid: () => 0,
      processAlive: () => false,
    },
    spawn(request: SpawnRequest) {
      const worker = new FakeWorker(1000 + spawned.length, request);
      spawned.push(worker);
      // Said before spawn returns, as a fast runtime may: the supervisor must hold it until it knows the worker.
      if (helloOnSpawn) worker.say({ type: "hello" });
      return worker;
    },
  } satisfies SupervisorHost;
  return { host, clock, spawned, lines, rss };
}

function supervisorOn(workers: number, extra: Record<string, unknown> = {}) {
  const fake = fakeHost();
  const options = resolveOptions({ app: "file:///app.js", workers, ...extra }, {
    env: {},
    parallelism: 2,
    isTerminal: false,
  });
  const log = createLogger({ name: "supervisor", write: (line) => fake.lines.push(line) });
  const supervisor = new Supervisor(fake.host, { options, log, tuning: { random: () => 0 } });
  return { ...fake, supervisor };
}

test("Supervisor.start() resolves once every slot has a worker that is ready or failing", async () => {
  const { supervisor, spawned } = supervisorOn(2);
  let started = false;
  void supervisor.start().then(() => (started = true));
  assert.equal(spawned.length, 2);
  assert.deepEqual(spawned.map((w) => w.request.spec.peersReady), [0, 0], "nobody else serves: both accept at once");
  spawned[0].ready();
  await flush();
  assert.equal(started, false);
  spawned[1].say({ type: "init-failed", attempt: 1, code: "E", message: "down" });
  await flush();
  assert.equal(started, true);
  assert.deepEqual(supervisor.status().map((w) => w.state), ["ready", "failing"]);
});

test("Supervisor respawns a crashed worker with exponential back-off while the others keep serving", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2);
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;

  spawned[0].exit({ code: 1, signal: null });
  assert.equal(spawned.length, 2, "not respawned at once");
  await clock.advance(100);
  assert.equal(spawned.length, 3);
  assert.equal(spawned[2].request.spec.slot, 0);
  assert.equal(spawned[2].request.spec.generation, 1);
  assert.equal(spawned[2].request.spec.peersReady, 1, "the other serves meanwhile: it accepts once initialised");

  spawned[2].exit({ code: 1, signal: null });
  await clock.advance(199);
  assert.equal(spawned.length, 3, "the second crash waits longer");
  await clock.advance(1);
  assert.equal(spawned.length, 4);
  assert.deepEqual(spawned[1].signals, [], "the other worker was never touched");
});

test("Supervisor.start() rejects when a worker cannot serve at all, and stops the others", async () => {
  const { supervisor, spawned } = supervisorOn(2);
  const starting = supervisor.start().catch((error) => error);
  spawned[0].say({
    type: "fatal",
    code: "ERR_ROTA_LISTEN",
    message: "Cannot listen on 127.0.0.1:8000: address already in use",
  });
  spawned[0].exit({ code: 1, signal: null });
  await flush();
  assert.deepEqual(spawned[1].orders, [{ rota: 1, type: "drain" }]);
  spawned[1].exit();
  const error = await starting;
  assert.equal(error.code, "ERR_ROTA_LISTEN");
  assert.equal(await supervisor.closed, 0);
  assert.equal(spawned.length, 2, "no respawn loop");
});

test("Supervisor.start() rejects with a generic code when a worker's fatal code is not one of rota's", async () => {
  const { supervisor, spawned } = supervisorOn(1);
  const starting = supervisor.start().catch((error) => error);
  spawned[0].say({ type: "fatal", code: "EADDRINUSE", message: "Cannot listen: address already in use" });
  spawned[0].exit({ code: 1, signal: null });
  const error = await starting;
  assert.ok(error instanceof RotaError);
  assert.equal(error.code, "ERR_ROTA_STARTUP_FAILED");
  assert.equal(error.message, "Cannot listen: address already in use");
  assert.equal(await supervisor.closed, 0);
});

test("Supervisor.reload() starts each replacement and drains the old worker only once the new one is ready", async () => {
  const { supervisor, spawned } = supervisorOn(2);
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;

  await supervisor.reload();
  assert.equal(spawned.length, 3, "one replacement at a time (maxSurge 1)");
  assert.equal(spawned[2].request.spec.peersReady, 2);
  assert.deepEqual(spawned[0].orders, [], "the old worker serves while its replacement starts");
  spawned[2].ready();
  assert.deepEqual(spawned[0].orders, [{ rota: 1, type: "drain" }]);
  assert.equal(spawned.length, 4, "the next slot's replacement starts after the first is ready");
  spawned[0].exit();
  spawned[3].ready();
  spawned[1].exit();
  assert.deepEqual(supervisor.status().map((w) => [w.pid, w.state, w.role]), [
    [1002, "ready", "active"],
    [1003, "ready", "active"],
  ]);
});

test("Supervisor kills a replacement that is not ready within startupTimeout and keeps the old worker", async () => {
  const { supervisor, spawned, clock } = supervisorOn(1, { startupTimeout: 5000 });
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  await supervisor.reload();
  // A ready worker serves: the replacement, whose init fails, never listens (the readiness rule).
  spawned[1].say({ type: "loaded" });
  spawned[1].say({ type: "init-failed", attempt: 1, code: "E", message: "new version broken" });
  await clock.advance(5000);
  assert.deepEqual(spawned[1].signals, ["SIGKILL"], "it holds no connections: killed");
  assert.deepEqual(spawned[0].orders, [], "the old worker was never drained");
  assert.deepEqual(supervisor.status().map((w) => [w.pid, w.state]), [[1000, "ready"]]);
  await clock.advance(100);
  assert.equal(spawned.length, 3, "the replacement is retried later");
});

test("Supervisor.close() drains every worker and SIGKILLs one that outlives the graceful timeout", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2, { gracefulTimeout: 1000 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  const closing = supervisor.close();
  assert.deepEqual(spawned.map((w) => w.orders), [[{ rota: 1, type: "drain" }], [{ rota: 1, type: "drain" }]]);
  spawned[0].exit();
  await clock.advance(1000 + 3000);
  assert.deepEqual(spawned[1].signals, ["SIGKILL"]);
  assert.equal(await closing, 0);
  await clock.advance(60_000);
  assert.equal(spawned.length, 2, "nothing respawned during shutdown");
});

test("Supervisor logs and ignores a malformed message", () => {
  const { supervisor, spawned, lines } = supervisorOn(1);
  void supervisor.start();
  spawned[0].request.onMessage({ rota: 1, type: "init-ok" });
  spawned[0].request.onMessage("garbage");
  spawned[0].request.onMessage({ rota: 1, type: "explode" });
  assert.deepEqual(supervisor.status().map((w) => w.state), ["loading"]);
  assert.equal(lines.filter((l) => l.includes("ignored a malformed message")).length, 3);
});

test("Supervisor drains the old worker only once its replacement both listens and has initialised", async () => {
  const { supervisor, spawned } = supervisorOn(1);
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  await supervisor.reload();
  spawned[1].say({ type: "init-ok", attempt: 1 });
  assert.deepEqual(spawned[0].orders, [], "initialised but not listening yet: the old worker still serves");
  spawned[1].say({ type: "listening" });
  assert.deepEqual(spawned[0].orders, [{ rota: 1, type: "drain" }]);
});

test("Supervisor staggers max-requests per slot so no two slots reach the limit together", () => {
  const { supervisor, spawned } = supervisorOn(4, { maxRequests: 1000 });
  void supervisor.start();
  assert.deepEqual(spawned.map((w) => w.request.spec.maxRequests), [1000, 1125, 1250, 1375]);
});

test("Supervisor replaces a worker that asks to be recycled, one slot at a time", async () => {
  const { supervisor, spawned } = supervisorOn(2, { maxRequests: 10 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  spawned[0].say({ type: "recycle", reason: "max-requests", detail: "answered 10 requests" });
  spawned[1].say({ type: "recycle", reason: "max-requests", detail: "answered 12 requests" });
  assert.equal(spawned.length, 3, "max surge 1: one replacement under way");
  spawned[2].ready();
  assert.equal(spawned.length, 4);
  assert.equal(spawned[3].request.spec.slot, 1);
});

test("Supervisor.start() rejects with one clear error when the runtime refuses to start a process", async () => {
  const { supervisor, host } = supervisorOn(2);
  host.spawn = () => {
    throw new Error("Requires run access");
  };
  const error = await supervisor.start().catch((e) => e);
  assert.equal(error.code, "ERR_ROTA_STARTUP_FAILED");
  assert.equal(error.message, "Cannot start a worker process: Requires run access");
  assert.equal(await supervisor.closed, 0);
});

test("Supervisor retries with growing back-off when the runtime refuses to start a respawn", async () => {
  const { supervisor, spawned, host, clock } = supervisorOn(1);
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  const spawn = host.spawn;
  let refusals = 0;
  host.spawn = (request) => {
    if (refusals++ < 2) throw new Error("EAGAIN");
    return spawn(request);
  };
  spawned[0].exit({ code: 1, signal: null });
  await clock.advance(100);
  assert.equal(refusals, 1);
  await clock.advance(200);
  assert.equal(refusals, 2);
  await clock.advance(399);
  assert.equal(refusals, 2, "the wait doubled again");
  await clock.advance(1);
  assert.equal(refusals, 3);
  assert.equal(spawned.length, 2, "the third try started a worker");
  assert.equal(spawned[1].request.spec.generation, 1);
});

test("Supervisor gives up with exit code 1 after --max-restarts crashes in a row, and never by default", async () => {
  const limited = supervisorOn(2, { maxRestarts: 2 });
  const starting = limited.supervisor.start();
  limited.spawned.forEach((w) => w.ready());
  await starting;
  limited.spawned[0].exit({ code: 1, signal: null });
  await limited.clock.advance(100);
  limited.spawned[2].exit({ code: 1, signal: null });
  await limited.clock.advance(200);
  limited.spawned[3].exit({ code: 1, signal: null });
  assert.deepEqual(limited.spawned[1].orders, [{ rota: 1, type: "drain" }], "the healthy worker is drained");
  limited.spawned[1].exit();
  assert.equal(await limited.supervisor.closed, 1);
  await limited.clock.advance(60_000);
  assert.equal(limited.spawned.length, 4, "no respawn after giving up");

  const unlimited = supervisorOn(1);
  const up = unlimited.supervisor.start();
  unlimited.spawned[0].ready();
  await up;
  for (let i = 0; i < 12; i++) {
    unlimited.spawned.at(-1)!.exit({ code: 1, signal: null });
    await unlimited.clock.advance(30_000);
  }
  assert.equal(unlimited.spawned.length, 13, "still respawning after 12 crashes in a row");
});

test("Supervisor runs up to --max-surge replacements at once", async () => {
  const { supervisor, spawned } = supervisorOn(3, { maxSurge: 2 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  await supervisor.reload();
  assert.deepEqual(spawned.slice(3).map((w) => w.request.spec.slot), [0, 1], "two slots at a time");
  spawned[4].ready();
  assert.deepEqual(spawned.slice(3).map((w) => w.request.spec.slot), [0, 1, 2], "the third starts when one is done");
  assert.deepEqual(spawned[0].orders, [], "slot 0's replacement is not ready yet");
  assert.deepEqual(spawned[1].orders, [{ rota: 1, type: "drain" }]);
});

test("Supervisor holds every message to a worker until it says hello, then delivers them in order", async () => {
  const fake = fakeHost(false);
  const options = resolveOptions({ app: "file:///app.js", workers: 1 }, { env: {}, parallelism: 2, isTerminal: false });
  const log = createLogger({ name: "supervisor", write: (line) => fake.lines.push(line) });
  const supervisor = new Supervisor(fake.host, { options, log, tuning: { random: () => 0 } });
  const starting = supervisor.start().catch((error) => error);
  const [worker] = fake.spawned;
  const closing = supervisor.close();
  assert.equal((await starting).message, "Stopped while starting");
  assert.deepEqual(worker.orders, [], "the worker may not listen yet: the drain waits");
  worker.say({ type: "hello" });
  assert.deepEqual(worker.orders, [{ rota: 1, type: "drain" }]);
  worker.exit();
  assert.equal(await closing, 0);
});

test("Supervisor tells every worker how many others are ready, so that only ready workers take connections", async () => {
  const { supervisor, spawned } = supervisorOn(2);
  const starting = supervisor.start();
  spawned[0].ready();
  assert.equal(spawned[1].peers, 1, "worker 1 still initialises: it should stop accepting");
  assert.equal(spawned[0].peers, 0, "worker 0 is the one ready");
  spawned[1].ready();
  await starting;
  assert.deepEqual([spawned[0].peers, spawned[1].peers], [1, 1]);
  spawned[0].exit({ code: 1, signal: null });
  assert.equal(spawned[1].peers, 0);
});

test("Supervisor.start() resolves only once the port accepts connections, not when every init failed before listening", async () => {
  const { supervisor, spawned } = supervisorOn(1);
  let started = false;
  void supervisor.start().then(() => (started = true));
  spawned[0].say({ type: "loaded" });
  spawned[0].say({ type: "init-failed", attempt: 1, code: "E", message: "down" });
  await flush();
  assert.equal(started, false, "failing, but nothing listens yet");
  spawned[0].say({ type: "listening" });
  await flush();
  assert.equal(started, true);
});

test("Supervisor never kills a worker that is up for a slow init, but kills one stuck loading its app", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2, { startupTimeout: 5000 });
  void supervisor.start();
  spawned[0].say({ type: "loaded" });
  spawned[0].say({ type: "listening" });
  await clock.advance(5000);
  assert.deepEqual(spawned[0].signals, [], "up and listening, its init still running: it stays");
  assert.deepEqual(spawned[1].signals, ["SIGKILL"], "never loaded its app");
});

test("Supervisor replaces, without back-off, a worker that drains on its own", async () => {
  const { supervisor, spawned, clock } = supervisorOn(1);
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  spawned[0].say({ type: "draining", reason: "SIGTERM" });
  assert.equal(spawned.length, 1, "not before the supervisor could hear a group signal too");
  await clock.advance(250);
  assert.equal(spawned.length, 2, "a replacement started, without crash back-off");
  assert.equal(spawned[1].request.spec.peersReady, 0, "the draining worker no longer counts as ready");
  spawned[0].exit({ code: 0, signal: null });
  assert.equal(supervisor.stats().crashes, 0, "leaving on its own is no crash");
  spawned[1].ready();
  assert.deepEqual(supervisor.status().map((w) => [w.pid, w.state, w.role]), [[1001, "ready", "active"]]);
});

test("Supervisor holds its messages while a worker listens, when the worker asks (Deno loses a listen otherwise)", async () => {
  const { supervisor, spawned } = supervisorOn(2);
  void supervisor.start();
  spawned[1].say({ type: "loaded" });
  spawned[1].say({ type: "hold" });
  assert.deepEqual(spawned[1].received.at(-1), { rota: 1, type: "holding" });
  const before = spawned[1].received.length;
  spawned[0].ready();
  assert.equal(spawned[1].received.length, before, "the count of ready peers waits");
  spawned[1].say({ type: "listening" });
  const delivered = spawned[1].received.slice(before);
  assert.deepEqual(
    delivered.find((m) => m.type === "peers"),
    { rota: 1, type: "peers", ready: 1 },
    "delivered once it listens",
  );
  await flush();
});

const heartbeat = { type: "heartbeat", phase: "serving", requests: 0, inFlight: 0, rss: 0, heapUsed: 0, loopLagMs: 0 };

test("Supervisor kills a worker whose heartbeats stop, counts it, logs its request, and starts its replacement at once", async () => {
  const { supervisor, spawned, clock, lines } = supervisorOn(2, { watchdogTimeout: 2000 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  for (let i = 0; i < 4; i++) {
    spawned.forEach((w) => w.say(heartbeat));
    await clock.advance(500);
  }
  spawned[0].say({ ...heartbeat, inFlight: 1, oldestMethod: "GET", oldestPath: "/spin", oldestMs: 10 });
  spawned[1].say(heartbeat);
  await clock.advance(1000);
  spawned[1].say(heartbeat);
  await clock.advance(999);
  assert.deepEqual(spawned[0].signals, []);
  await clock.advance(1);
  assert.deepEqual(spawned[0].signals, ["SIGKILL"]);
  assert.equal(spawned.length, 3, "the replacement started at once, without back-off");
  assert.deepEqual([spawned[2].request.spec.slot, spawned[2].request.spec.generation], [0, 1]);
  assert.match(
    lines.join("\n"),
    /watchdog: worker 0\.0 \(pid 1000\) sent no heartbeat for 2000ms; killing it \(it was running GET \/spin for 2010ms\)/,
  );
  assert.deepEqual(supervisor.stats().watchdogKills, 1);
  assert.equal(supervisor.stats().crashes, 0, "a kill is not a crash");
  assert.deepEqual(spawned[1].signals, [], "the other worker was never touched");
  assert.doesNotMatch(lines.join("\n"), /exited unexpectedly/);
});

test("Supervisor respawns a slot whose workers keep wedging at once only while the back-off is shorter than the wedge", async () => {
  const { supervisor, spawned, clock } = supervisorOn(1, { watchdogTimeout: 1000 });
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  const delays: number[] = [];
  for (let kill = 0; kill < 8; kill++) {
    const before = spawned.length;
    spawned.at(-1)!.say({ ...heartbeat, phase: "loading" });
    await clock.advance(1000);
    let waited = 0;
    while (spawned.length === before && waited < 60_000) {
      await clock.advance(100);
      waited += 100;
    }
    delays.push(waited);
  }
  assert.deepEqual(delays.slice(0, 4), [0, 0, 0, 0], "the first wedges cost no more than the watchdog timeout");
  assert.ok(delays[7] > 0, `a slot that keeps wedging backs off: ${delays}`);
  assert.ok(delays[7] >= delays[6], "and the back-off grows");
});

test("Supervisor recycles a worker above --max-memory replacement-first, as it measures it", async () => {
  const { supervisor, spawned, clock, rss, lines } = supervisorOn(2, { maxMemory: 100 * 2 ** 20 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  rss.set(1000, 120 * 2 ** 20);
  rss.set(1001, 50 * 2 ** 20);
  await clock.advance(1000);
  assert.match(lines.join("\n"), /worker 0\.0 \(pid 1000\) uses 120MB, above --max-memory 100MB: recycling/);
  assert.equal(spawned.length, 3);
  assert.equal(spawned[2].request.spec.slot, 0);
  assert.deepEqual(spawned[0].orders, [], "it serves until its replacement is ready");
  spawned[2].ready();
  assert.deepEqual(spawned[0].orders, [{ rota: 1, type: "drain" }]);
});

test("Supervisor drains a worker above the hard limit at once, while another serves, and starts a new one at the same time", async () => {
  const { supervisor, spawned, clock, rss, lines } = supervisorOn(2, { maxMemory: 100 * 2 ** 20 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  rss.set(1001, 200 * 2 ** 20);
  await clock.advance(1000);
  assert.match(
    lines.join("\n"),
    /worker 1\.0 \(pid 1001\) uses 200MB, above the hard limit of 150MB: replacing it now/,
  );
  assert.deepEqual(spawned[1].orders, [{ rota: 1, type: "drain" }], "drained before any replacement is ready");
  assert.equal(spawned.length, 3);
  assert.deepEqual([spawned[2].request.spec.slot, spawned[2].request.spec.peersReady], [1, 1]);
  spawned[1].exit();
  assert.deepEqual(supervisor.status().map((w) => [w.slot, w.role]), [[0, "active"], [1, "active"]]);
  assert.equal(spawned.length, 3, "a drained worker's exit starts nothing more");
});

test("Supervisor measures memory from the last heartbeat where the system cannot tell", async () => {
  const { supervisor, spawned, clock, lines } = supervisorOn(1, { maxMemory: 100 * 2 ** 20 });
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  spawned[0].say({ ...heartbeat, rss: 130 * 2 ** 20 });
  await clock.advance(1000);
  assert.match(lines.join("\n"), /uses 130MB, above --max-memory 100MB: recycling/);
});

test("Supervisor logs a flood of malformed messages a few lines a second, with a count of the rest", async () => {
  const { supervisor, spawned, clock, lines } = supervisorOn(1);
  void supervisor.start();
  for (let i = 0; i < 10_000; i++) spawned[0].request.onMessage({ junk: i });
  await clock.advance(1000);
  const malformed = lines.filter((l) => l.includes("ignored a malformed message"));
  assert.equal(malformed.length, 5);
  assert.equal(
    lines.filter((l) => l.includes("suppressed 9995 similar warnings about worker 0.0 (pid 1000)")).length,
    1,
  );
});

test("Supervisor hands an only worker above the hard limit over to a replacement as soon as it listens, before its init", async () => {
  const { supervisor, spawned, clock, rss } = supervisorOn(1, { maxMemory: 100 * 2 ** 20 });
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  rss.set(1000, 200 * 2 ** 20);
  await clock.advance(1000);
  assert.equal(spawned.length, 2);
  assert.equal(spawned[1].request.spec.peersReady, 0, "the replacement listens at once: its predecessor is no peer");
  assert.deepEqual(spawned[0].orders, [], "closing the only listener would refuse connections: not yet");
  spawned[1].say({ type: "listening" });
  assert.deepEqual(spawned[0].orders, [{ rota: 1, type: "drain" }], "drained as soon as its replacement listens");
  assert.deepEqual(supervisor.status().map((w) => [w.pid, w.role, w.state]), [
    [1000, "retired", "draining"],
    [1001, "active", "starting"],
  ]);
});

test("Supervisor staggers --max-lifetime over the slots, so that they never all recycle at once", async () => {
  const { supervisor, spawned, clock, lines } = supervisorOn(4, { maxLifetime: 10_000 });
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  const recycled = () => lines.filter((l) => l.includes("(max lifetime)")).map((l) => /lived (\d+)ms/.exec(l)![1]);
  await clock.advance(9_999);
  assert.deepEqual(recycled(), []);
  await clock.advance(1_000);
  assert.deepEqual(recycled(), ["10000", "10250", "10500", "10750"], "slot i of 4 lives 10 % × i / 4 longer");
});

test("Supervisor starts no replacement for workers that drain on their own when it stops too (a group signal)", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2);
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  spawned.forEach((w) => w.say({ type: "draining", reason: "SIGINT" }));
  const closing = supervisor.close();
  await clock.advance(1000);
  assert.equal(spawned.length, 2, "nothing was spawned during the shutdown");
  spawned.forEach((w) => w.exit());
  assert.equal(await closing, 0);
});

test("Supervisor leaves no timer behind when it stops while a worker drains on its own", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2);
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  spawned[0].say({ type: "draining", reason: "SIGTERM" });
  const closing = supervisor.close();
  spawned.forEach((w) => w.exit());
  assert.equal(await closing, 0);
  assert.equal(clock.pending, 0, "the wait before its replacement ended with the worker");
  await clock.advance(1000);
  assert.equal(spawned.length, 2, "and no replacement started");
});

test("Supervisor gives a slot a worker again when its worker drained on its own and the replacement then crashed", async () => {
  const { supervisor, spawned, clock } = supervisorOn(1);
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  spawned[0].say({ type: "draining", reason: "SIGTERM" });
  await clock.advance(250);
  assert.equal(spawned.length, 2, "a replacement started");
  spawned[0].exit({ code: 0, signal: null });
  spawned[1].exit({ code: 1, signal: null });
  await clock.advance(60_000);
  assert.equal(supervisor.status().length, 1, "slot 0 has a worker again");
});

test("Supervisor keeps recycling after a replacement drained on its own: the rollout does not stay blocked", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2);
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  await supervisor.reload();
  assert.equal(spawned.length, 3, "slot 0's replacement started");
  spawned[2].say({ type: "draining", reason: "SIGTERM" });
  spawned[2].exit({ code: 0, signal: null });
  await clock.advance(60_000);
  assert.ok(spawned.length >= 4, `the replacement was retried (spawned ${spawned.length})`);
  spawned.at(-1)!.ready();
  await clock.advance(1_000);
  assert.ok(spawned.length >= 5, "slot 1's replacement followed");
});

test("Supervisor replaces a worker that drains on its own while the rota starts, and start() resolves", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2);
  let started = false;
  void supervisor.start().then(() => (started = true), () => {});
  spawned[1].ready();
  spawned[0].say({ type: "loaded" });
  spawned[0].say({ type: "draining", reason: "SIGTERM" });
  spawned[0].exit({ code: 0, signal: null });
  await clock.advance(1_000);
  assert.equal(spawned.length, 3, "slot 0 got a new worker");
  spawned[2].ready();
  await clock.advance(10);
  assert.ok(started, "start() resolved");
});

/**
 * One worker, failing its init; a reload's replacement that listened (so it
 * took connections) and was still not ready at `--startup-timeout` (5 s).
 */
async function replacementPastItsDeadline() {
  const fake = supervisorOn(1, { startupTimeout: 5000, initTimeout: 2000 });
  const { supervisor, spawned, clock } = fake;
  const starting = supervisor.start();
  spawned[0].say({ type: "loaded" });
  spawned[0].say({ type: "listening" });
  spawned[0].say({ type: "init-failed", attempt: 1, code: "E", message: "down" });
  await starting;
  await supervisor.reload();
  spawned[1].say({ type: "loaded" });
  spawned[1].say({ type: "listening" });
  await clock.advance(5000);
  return fake;
}

test("Supervisor drains, not kills, a replacement that took connections and was not ready in time", async () => {
  const { spawned } = await replacementPastItsDeadline();
  assert.deepEqual(spawned[1].signals, [], "not SIGKILLed: it holds connections");
  assert.deepEqual(spawned[1].orders, [{ rota: 1, type: "drain" }], "drained, so its requests are answered");
});

test("Supervisor never makes a draining replacement the slot's worker: when the active one crashes, a new one starts", async () => {
  const { supervisor, spawned, clock } = await replacementPastItsDeadline();
  assert.deepEqual(spawned[1].orders, [{ rota: 1, type: "drain" }], "drained at its deadline");
  spawned[0].exit({ code: 1, signal: null });
  await clock.advance(1000);
  assert.equal(spawned.length, 3, "a new worker for the slot");
  const roles = supervisor.status().map((w) => `${w.generation} ${w.state} ${w.role}`);
  assert.ok(roles.includes("1 draining retired"), roles.join(", "));
  assert.ok(roles.includes("2 loading active"), roles.join(", "));
});

/** The last health a fake worker was told, or the one in its spec. */
function toldHealth(worker: FakeWorker) {
  const told = worker.received.filter((m) => m.type === "health");
  const last = told.at(-1) as (SupervisorMessage & { type: "health" }) | undefined;
  if (!last) return worker.request.spec.health;
  const { rota: _rota, type: _type, ...health } = last;
  return health;
}

test("Supervisor tells every worker the rota's health: in the spec, at once on a change, and every second", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2);
  const starting = supervisor.start();
  assert.deepEqual(spawned[0].request.spec.health, { ready: false, workersReady: 0, phase: "starting", pid: 1 });
  spawned[0].ready();
  assert.deepEqual(toldHealth(spawned[1]), { ready: true, workersReady: 1, phase: "starting", pid: 1 });
  spawned[1].ready();
  await starting;
  assert.deepEqual(toldHealth(spawned[0]), { ready: true, workersReady: 2, phase: "running", pid: 1 });
  const count = () => spawned[0].received.filter((m) => m.type === "health").length;
  const before = count();
  await clock.advance(3000);
  assert.equal(count(), before + 3, "repeated every second, so workers know the supervisor's loop turns");
  spawned[0].exit({ code: 1, signal: null });
  spawned[1].exit({ code: 1, signal: null });
  assert.deepEqual(toldHealth(spawned[1]), { ready: false, workersReady: 0, phase: "running", pid: 1 });
});

test("Supervisor.close() with --shutdown-delay turns readiness 503 at once and drains only after the delay", async () => {
  const { supervisor, spawned, clock, lines } = supervisorOn(2, { shutdownDelay: 5000 });
  const events: string[] = [];
  supervisor.onLifecycle((event) => events.push(event.type));
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  const closing = supervisor.close();
  assert.deepEqual(toldHealth(spawned[0]), { ready: false, workersReady: 2, phase: "stopping", pid: 1 });
  assert.equal(supervisor.snapshot().ready, false);
  assert.deepEqual(spawned.map((w) => w.orders), [[], []], "still serving");
  assert.match(lines.join("\n"), /serving 5000ms more \(--shutdown-delay\)/);
  await clock.advance(4999);
  assert.deepEqual(spawned.map((w) => w.orders), [[], []]);
  await clock.advance(1);
  assert.deepEqual(spawned.map((w) => w.orders), [[{ rota: 1, type: "drain" }], [{ rota: 1, type: "drain" }]]);
  spawned.forEach((w) => w.exit());
  assert.equal(await closing, 0);
  assert.deepEqual(events, ["started", "stopping", "stopped"]);
  assert.equal(clock.pending, 0, "no timer left behind");
});

test("Supervisor.forceClose() during the shutdown delay kills every worker at once", async () => {
  const { supervisor, spawned, clock } = supervisorOn(1, { shutdownDelay: 5000 });
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  void supervisor.close();
  const forced = supervisor.forceClose();
  assert.deepEqual(spawned[0].signals, ["SIGKILL"]);
  assert.equal(await forced, 1);
  await clock.advance(10_000);
  assert.deepEqual(spawned[0].orders, [], "no drain after the kill");
});

test("Supervisor lets a lifecycle listener force a graceful stop as it begins: exit code 1, every worker killed once, nothing drained", async () => {
  for (const shutdownDelay of [0, 5000]) {
    const { supervisor, spawned, clock } = supervisorOn(2, { shutdownDelay });
    const starting = supervisor.start();
    spawned.forEach((w) => w.ready());
    await starting;
    let forced: Promise<number> | undefined;
    supervisor.onLifecycle((event) => {
      if (event.type === "stopping") forced = supervisor.forceClose();
    });
    // Killed workers exit a moment later, as real ones do.
    spawned.forEach((w) => (w.exitsOnKill = false));
    const closing = supervisor.close();
    assert.deepEqual(spawned.map((w) => w.signals), [["SIGKILL"], ["SIGKILL"]], `delay ${shutdownDelay}`);
    spawned.forEach((w) => w.exit({ code: null, signal: "SIGKILL" }));
    assert.equal(await closing, 1);
    assert.equal(await forced, 1);
    await clock.advance(10_000);
    assert.deepEqual(spawned.map((w) => w.orders), [[], []], `no drain after the kill (delay ${shutdownDelay})`);
    assert.equal(clock.pending, 0, "no timer left behind");
  }
});

test("Supervisor does not count the workers a forced stop kills as crashes, nor log them as unexpected", async () => {
  for (const during of ["running", "graceful stop"]) {
    const { supervisor, spawned, lines } = supervisorOn(2);
    const starting = supervisor.start();
    spawned.forEach((w) => w.ready());
    await starting;
    if (during === "graceful stop") void supervisor.close();
    assert.equal(await supervisor.forceClose(), 1);
    assert.deepEqual(spawned.map((w) => w.signals), [["SIGKILL"], ["SIGKILL"]], during);
    assert.equal(supervisor.stats().crashes, 0, during);
    assert.doesNotMatch(lines.join("\n"), /exited unexpectedly/, during);
    assert.match(lines.join("\n"), /worker 0\.0 \(pid 1000\) exited \(signal SIGKILL\)/, during);
  }
});

test("Supervisor still logs why a worker cannot serve when a forced stop kills it before it exited", async () => {
  const { supervisor, spawned, lines } = supervisorOn(2);
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  spawned[0].say({ type: "fatal", code: "ERR_ROTA_APP", message: "the database is gone for good" });
  assert.equal(await supervisor.forceClose(), 1);
  assert.match(lines.join("\n"), /worker 0\.0 \(pid 1000\) cannot serve: the database is gone for good/);
  assert.match(lines.join("\n"), /worker 1\.0 \(pid 1001\) exited \(signal SIGKILL\)/);
});

test("Supervisor does not count a replacement it kills for an init that ignores its abort signal as a crash", async () => {
  const { supervisor, spawned, lines } = supervisorOn(1);
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  void supervisor.reload();
  await flush();
  spawned[1].say({ type: "loaded" });
  spawned[1].say({ type: "init-hung", attempt: 1 });
  assert.deepEqual(spawned[1].signals, ["SIGKILL"]);
  assert.equal(supervisor.stats().crashes, 0);
  assert.doesNotMatch(lines.join("\n"), /exited unexpectedly/);
  assert.equal(spawned.length, 2, "the slot's own worker keeps serving; the replacement is retried after a back-off");
});

test("Supervisor keeps no shutdown delay when it stops before it ran", () => {
  const { supervisor, spawned } = supervisorOn(1, { shutdownDelay: 5000 });
  void supervisor.start().catch(() => {});
  spawned[0].say({ type: "loaded" });
  void supervisor.close();
  assert.deepEqual(spawned[0].orders, [{ rota: 1, type: "drain" }], "nobody sends traffic to a rota still starting");
});

test("Supervisor tells its lifecycle: a reload is over once every slot serves a fresh worker", async () => {
  const { supervisor, spawned } = supervisorOn(2);
  const events: unknown[] = [];
  supervisor.onLifecycle((event) => events.push(event));
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  assert.deepEqual(events, [{ type: "started", ready: 2, workers: 2 }]);
  await supervisor.reload();
  assert.equal(supervisor.reloading, true);
  assert.deepEqual(events.at(-1), { type: "reloading" });
  spawned[2].ready();
  assert.equal(events.length, 2, "slot 1 is not replaced yet");
  spawned[3].ready();
  assert.deepEqual(events.at(-1), { type: "reloaded", failed: [] });
  assert.equal(supervisor.reloading, false);
});

test("Supervisor ends a reload whose replacement fails, naming the slot whose old worker keeps serving", async () => {
  const { supervisor, spawned, clock } = supervisorOn(2, { startupTimeout: 5000 });
  const events: unknown[] = [];
  supervisor.onLifecycle((event) => events.push(event));
  const starting = supervisor.start();
  spawned.forEach((w) => w.ready());
  await starting;
  await supervisor.reload();
  spawned[2].say({ type: "loaded" });
  spawned[2].say({ type: "init-failed", attempt: 1, code: "E", message: "new version broken" });
  await clock.advance(5000);
  assert.deepEqual(spawned[2].signals, ["SIGKILL"], "not listening, so killed at the startup timeout");
  spawned[3].ready();
  assert.deepEqual(events.at(-1), { type: "reloaded", failed: [0] });
});

test("Supervisor.snapshot() reports workers, heartbeats, init attempts, recycles by reason and the event ring", async () => {
  let wall = Date.UTC(2026, 10, 25, 12, 0, 0);
  const fake = fakeHost();
  const options = resolveOptions({ app: "file:///app.js", workers: 2, maxRequests: 10 }, {
    env: {},
    parallelism: 2,
    isTerminal: false,
  });
  const log = createLogger({ name: "supervisor", write: (line) => fake.lines.push(line) });
  const supervisor = new Supervisor(fake.host, { options, log, tuning: { random: () => 0, wallClock: () => wall } });
  const { spawned, clock, rss } = fake;
  const starting = supervisor.start();
  spawned[0].say({ type: "listening" });
  spawned[0].say({ type: "init-failed", attempt: 1, code: "ECONNREFUSED", message: "down", ms: 40 });
  spawned[0].say({ type: "init-ok", attempt: 2, ms: 1200 });
  spawned[1].ready();
  await starting;
  rss.set(1000, 50 * 2 ** 20);
  const counts = [3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  spawned[0].say({
    ...heartbeat,
    requests: 4,
    inFlight: 1,
    heapUsed: 9e6,
    loopLagMs: 12,
    requestSeconds: { counts, sum: 0.02, count: 4 },
  });
  spawned[1].say({ ...heartbeat, requestSeconds: { counts: [1], sum: 1, count: 1 } });
  await clock.advance(2000);
  wall += 2000;
  spawned[0].say({ type: "recycle", reason: "max-requests", detail: "answered 10 requests" });
  const snapshot = supervisor.snapshot();
  assert.equal(snapshot.phase, "running");
  assert.equal(snapshot.ready, true);
  assert.equal(snapshot.time, wall);
  assert.deepEqual(snapshot.workers.map((w) => [w.slot, w.generation, w.state, w.role]), [
    [0, 0, "ready", "active"],
    [0, 1, "starting", "incoming"],
    [1, 0, "ready", "active"],
  ]);
  const first = snapshot.workers[0];
  assert.equal(first.startedAt, wall - 2000, "clock times become epoch milliseconds");
  assert.deepEqual(
    [first.requests, first.inFlight, first.rss, first.heapUsed, first.eventLoopLagSeconds, first.initAttempts],
    [4, 1, 50 * 2 ** 20, 9e6, 0.012, 2],
  );
  assert.deepEqual(snapshot.counters.initAttempts, { ok: 2, failed: 1 });
  assert.deepEqual(
    Object.entries(snapshot.counters.recycles).filter(([, n]) => n > 0),
    [["max-requests", 1]],
    "every other reason is there at 0",
  );
  assert.equal(Object.keys(snapshot.counters.recycles).length, 7);
  assert.equal(snapshot.histograms.requestSeconds.count, 4, "a delta of the wrong shape is ignored");
  assert.equal(snapshot.histograms.initSeconds.count, 2);
  assert.deepEqual(
    snapshot.events.map((e) => `${e.slot}.${e.generation} ${e.kind}${e.detail ? ` ${e.detail}` : ""}`),
    [
      "0.0 spawned",
      "1.0 spawned",
      "0.0 init-failed ECONNREFUSED",
      "0.0 ready",
      "1.0 ready",
      "0.0 recycle max-requests",
      "0.1 spawned replacement",
    ],
  );
  spawned[2].ready();
  spawned[0].exit();
  const after = supervisor.snapshot();
  assert.equal(after.counters.replacements, 1);
  assert.deepEqual(after.events.slice(-3).map((e) => `${e.slot}.${e.generation} ${e.kind}`), [
    "0.1 ready",
    "0.0 draining",
    "0.0 exited",
  ]);
  assert.equal(JSON.parse(JSON.stringify(after)).workers.length, 2, "plain data");
});

test("Supervisor counts restarts per slot and crashes, for the snapshot", async () => {
  const { supervisor, spawned, clock } = supervisorOn(1);
  const starting = supervisor.start();
  spawned[0].ready();
  await starting;
  spawned[0].exit({ code: 1, signal: null });
  await clock.advance(100);
  spawned[1].ready();
  const snapshot = supervisor.snapshot();
  assert.deepEqual([snapshot.counters.crashes, snapshot.counters.restarts], [1, 1]);
  assert.equal(snapshot.workers[0].restarts, 1);
  assert.ok(snapshot.events.some((e) => e.kind === "crashed" && e.detail === "code 1"));
});
