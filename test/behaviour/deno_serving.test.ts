/**
 * Deno's two ways of serving: `Deno.serve` on a socket per worker when Deno
 * runs with `--unstable-net` (and may use FFI, and `tcp_migrate_req` is 1),
 * else `node:http` on the supervisor's socket. The full suites run the first
 * (`deno.test.ts`); the core suite runs the second here too.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FIXTURES, get, killLeftovers, ROOT, Rota, type Target, TARGETS, waitFor, workerStart } from "../_harness.ts";
import { reachable } from "../_module_graph.ts";
import http from "node:http";
import net from "node:net";
import { limitsSuite } from "./limits.ts";
import { behaviourSuite } from "./suite.ts";
import { webSuite } from "./web.ts";

behaviourSuite("deno-node-http");
limitsSuite("deno-node-http");
webSuite("deno-node-http");

/** A POST with a chunked body (no Content-Length), over a new connection. */
function postChunked(url: string, body: string): Promise<number> {
  return new Promise((done, fail) => {
    const request = http.request(url, { method: "POST", agent: false, timeout: 20000 }, (response) => {
      response.resume();
      response.on("end", () => done(response.statusCode ?? 0));
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", fail);
    request.write(body.slice(0, 5));
    request.end(body.slice(5));
  });
}

describe("how Deno workers serve", { timeout: 120_000 }, () => {
  after(killLeftovers);

  /** Start serving.js and ask it what its runtime's server put on `env`. */
  async function serving(target: Target, env: Record<string, string> = {}) {
    const rota = await Rota.serve(target, "serving.js", ["--workers", "2"], { env });
    const { incoming, remoteAddr } = JSON.parse((await get(rota.url)).body);
    return { rota, bindings: { incoming, remoteAddr } };
  }

  test("with --unstable-net and -A, on Deno.serve: env has remoteAddr and no node:http request", async () => {
    // A stray ROTA_DENO_CHANNEL in rota's own environment (naming a process that is not its parent) is not taken
    // for a worker's: the supervisor stays a supervisor, and its workers get their own.
    const { rota, bindings } = await serving(TARGETS["deno"](), { ROTA_DENO_CHANNEL: "1:stray:/nonexistent/c" });
    assert.deepEqual(bindings, { incoming: false, remoteAddr: true });
    assert.doesNotMatch(rota.log, /node:http/);
    // Spawned by the supervisor itself, with rota's own channel: no Node IPC channel, so none of Deno's Node layer.
    for (const pid of rota.workerPids()) {
      assert.deepEqual(workerStart(pid), {
        forked: false,
        command: `run -A --unstable-net --v8-flags=--min-semi-space-size=2 ${join(ROOT, "main.ts")}`,
      });
    }
    assert.equal((await rota.stop()).code, 0);
  });

  test("a spawned worker's socket directory is gone once it connected; where none can be made, node:cluster forks it", async () => {
    const runtimeDir = mkdtempSync(join(tmpdir(), "rota-xdg-"));
    try {
      const spawned = await serving(TARGETS["deno"](), { XDG_RUNTIME_DIR: runtimeDir });
      assert.deepEqual(spawned.bindings, { incoming: false, remoteAddr: true });
      for (const pid of spawned.rota.workerPids()) assert.equal(workerStart(pid).forked, false);
      // (The control socket's directory, rota/, lives there too.)
      assert.deepEqual(readdirSync(runtimeDir).filter((name) => name.startsWith("rota-w-")), [], "none left behind");
      assert.equal((await spawned.rota.stop()).code, 0);

      // A runtime "directory" that is a file (or gone, as after the user's last logout): /tmp instead.
      const notADirectory = join(runtimeDir, "file");
      writeFileSync(notADirectory, "");
      const inTmp = await serving(TARGETS["deno"](), { XDG_RUNTIME_DIR: notADirectory, ROTA_CONTROL_SOCKET: "off" });
      for (const pid of inTmp.rota.workerPids()) assert.equal(workerStart(pid).forked, false);
      assert.equal((await inTmp.rota.stop()).code, 0);

      // A directory whose path leaves no room for a socket's (108 bytes): no channel, so the workers are forked,
      // on Deno.serve still.
      const deep = join(runtimeDir, "d".repeat(Math.max(1, 100 - runtimeDir.length)));
      mkdirSync(deep);
      const forked = await serving(TARGETS["deno"](), { XDG_RUNTIME_DIR: deep, ROTA_CONTROL_SOCKET: "off" });
      assert.deepEqual(forked.bindings, { incoming: false, remoteAddr: true });
      for (const pid of forked.rota.workerPids()) assert.equal(workerStart(pid).forked, true);
      assert.equal((await forked.rota.stop()).code, 0);
    } finally {
      rmSync(runtimeDir, { recursive: true, force: true });
    }
  });

  test("the app's path is a file name: '#', '?' and '%' in it or in the working directory are the file's", async () => {
    // The supervisor reads the path through Deno's own API (no node:url): a URL parser would take '#' for a fragment.
    const dir = join(mkdtempSync(join(tmpdir(), "rota-path-")), "a #b?%41");
    mkdirSync(dir);
    copyFileSync(join(FIXTURES, "hello.js"), join(dir, "app %41#1.js"));
    try {
      const rota = await Rota.serve(TARGETS["deno"](), "app %41#1.js", ["--workers", "1"], { cwd: dir });
      assert.equal((await get(rota.url)).status, 200);
      assert.equal((await rota.stop()).code, 0);
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  });

  test("a Deno worker the supervisor spawns itself imports nothing of Node's", () => {
    // What main.ts loads for such a worker: its static imports, then the worker's main and all it imports,
    // dynamically too (main.ts's other branches are the command line's, adapters/mod.ts, and every other worker's,
    // adapters/worker_main.ts).
    const seen = reachable((dependency) =>
      !dependency.endsWith("/adapters/mod.ts") && !dependency.endsWith("/adapters/worker_main.ts")
    );
    assert.ok([...seen].some((specifier) => specifier.endsWith("/runtime/worker/worker.ts")));
    assert.deepEqual([...seen].filter((specifier) => !specifier.startsWith("file:")), []);
  });

  test("a Deno supervisor imports nothing of Node's but what it loads on demand", () => {
    // Loaded only when needed: the other runtimes' adapters, Deno's Node layer (workers forked through
    // node:cluster: without --unstable-net, or where rota cannot spawn them itself), the admin listener
    // (--admin, through @hono/node-server) and systemd-notify (no datagram socket in Deno's API).
    const onDemand = [
      "/adapters/node.ts",
      "/adapters/bun.ts",
      "/_deno/node_layer.ts",
      "/_node/admin.ts",
      "/_node/notify.ts",
    ];
    // Only a dynamic import of them waits for the demand: a static one is followed, and fails the test.
    const seen = reachable((dependency, dynamic) => !(dynamic && onDemand.some((path) => dependency.endsWith(path))));
    for (const module of ["/runtime/supervisor/supervisor.ts", "/adapters/deno.ts", "/_deno/control.ts"]) {
      assert.ok([...seen].some((specifier) => specifier.endsWith(module)), module);
    }
    assert.deepEqual([...seen].filter((specifier) => !specifier.startsWith("file:")), []);
  });

  test("without --unstable-net, through node:http on the supervisor's socket, and nothing is said", async () => {
    // A stray ROTA_DENO_SERVE in rota's own environment never reaches a worker.
    const { rota, bindings } = await serving(TARGETS["deno-node-http"](), { ROTA_DENO_SERVE: "1" });
    assert.deepEqual(bindings, { incoming: true, remoteAddr: true });
    assert.doesNotMatch(rota.log, /node:http/);
    assert.equal((await rota.stop()).code, 0);
  });

  test("with --unstable-net but no --allow-ffi, through node:http, and one line says why", async () => {
    const deno = TARGETS["deno"]().command[0];
    const target: Target = {
      ...TARGETS["deno"](),
      command: [
        deno,
        "run",
        "--unstable-net",
        "--allow-read",
        "--allow-env",
        "--allow-net",
        "--allow-run",
        "--allow-sys",
        join(ROOT, "main.ts"),
      ],
    };
    const { rota, bindings } = await serving(target);
    assert.equal(bindings.incoming, true);
    assert.match(rota.log, /Deno workers serve through node:http, not Deno\.serve, as Deno lacks --allow-ffi/);
    assert.equal((await rota.stop()).code, 0);
  });

  test("on Deno.serve, rota never reads request.signal: Deno's legacy-abort warning is never printed", async () => {
    // The first init fails, so rota starts; the second takes 1.5 s, during which requests wait for it.
    const rota = await Rota.serve(TARGETS["deno"](), "slow_flaky.js", ["--workers", "1", "--request-timeout", "5s"], {
      env: { ROTA_TEST_FAIL_TIMES: "1", ROTA_TEST_INIT_MS: "1500" },
      ready: /0 of 1 workers ready/,
    });
    // Waiting for init, then copied for --request-timeout; and a chunked body, copied for --max-body too.
    const [waited, posted] = await Promise.all([get(rota.url, 20000), postChunked(rota.url, "a body in chunks")]);
    assert.deepEqual([waited.status, posted], [200, 200]);
    assert.equal((await get(rota.url)).status, 200);
    assert.equal((await rota.stop()).code, 0);
    assert.doesNotMatch(rota.stderr, /Deno\.serve:|request\.signal/);
  });

  test("on Deno.serve, a WebSocket handshake whose client left before the 101 does not hold up the drain", async () => {
    const rota = await Rota.serve(TARGETS["deno"](), "web.js", ["--workers", "1", "--graceful-timeout", "20s"]);
    // The handshake goes in, and the client is gone before the app has answered it.
    await new Promise<void>((done) => {
      const socket = net.connect(rota.port, "127.0.0.1", () => {
        socket.write(
          "GET /ws?delay=300 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
          () => socket.destroy(),
        );
      });
      socket.on("error", () => {});
      socket.on("close", () => done());
    });
    await rota.waitForLog(/fixture: delayed handshake answered/);
    assert.equal((await get(rota.url)).status, 200);
    // Bounded well below the graceful timeout: Deno's own shutdown() would wait for it.
    assert.equal((await rota.stop(15000)).code, 0);
    assert.doesNotMatch(rota.log, /graceful timeout of \d+ms passed/);
  });

  test("on Deno.serve, a worker whose listening socket fails (out of descriptors) says so and listens again", async () => {
    const deno = TARGETS["deno"]();
    // 100 descriptors: the worker runs out once enough connections are open at once.
    const target: Target = { ...deno, command: ["prlimit", "--nofile=100:100", ...deno.command] };
    const rota = await Rota.serve(target, "hello.js", ["--workers", "1"]);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 160 && !/stopped accepting/.test(rota.log); i++) {
        await new Promise<void>((done) => {
          const socket = net.connect(rota.port, "127.0.0.1", () => done());
          socket.on("error", () => done());
          sockets.push(socket);
        });
      }
      await rota.waitForLog(/the listening socket stopped accepting \(.*Too many open files.*\); listening again/);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await waitFor(
      "a new connection answered again",
      async () => (await get(rota.url, 2000)).status === 200,
      15000,
      200,
    );
    assert.equal((await rota.stop()).code, 0);
  });
});
