// The floor of replacement-first recycling, without rota: the runtime's own server running the seed's handler,
// whose serving process, once it answered 500 requests, is replaced the way rota replaces a worker. A new process
// starts, waits BENCH_INIT_MS (the seed's init, 1000 ms), listens; only then the old one drains as rota's does: it
// answers with `Connection: close` for DRAIN_SETTLE_MS (rota's 500 ms), so that keep-alive clients leave after an
// answer rather than being cut, then closes and exits. Nothing else: no health paths, no metrics, no supervisor
// protocol. So it measures what a fresh process at this cadence costs the runtime itself.
//
// Bun: processes with `Bun.serve` on `reusePort` sockets (as rota's), started by `Bun.spawn`; a draining one stops
// listening after the settle (`server.stop()`, which lets the requests under way finish).
// Node: a `node:cluster` primary owning the socket (as rota's), workers on `@hono/node-server`; a draining worker
// stops accepting at once (net.Server's close, as rota's; http.Server's would also cut idle keep-alive connections).
// Deno: processes with `Deno.serve` on `reusePort` sockets (as rota's, needs --unstable-net), importing nothing of
// Node's (a bare `Deno.serve` start); without rota's FFI a draining one keeps accepting until its `shutdown()`.
// PORT from the environment; RECYCLE=0 never replaces (the same server, for the ratio). Prints "listening" once the
// first process listens, "recycled" at each replacement, and "recycles <n>" at SIGTERM.

const LIMIT = 500;
const DRAIN_SETTLE_MS = 500;
const deno = globalThis.Deno;
const env = (name) => (deno ? deno.env.get(name) : globalThis.process.env[name]);
const port = Number(env("PORT"));
const recycle = env("RECYCLE") !== "0";
const initMs = Number(env("BENCH_INIT_MS") ?? 1000);
const pid = deno ? deno.pid : globalThis.process.pid;

/** The seed's one-line answer; `Connection: close` once the process drains. */
function handler(draining, counted) {
  return () => {
    counted();
    const headers = { "content-type": "text/plain" };
    if (draining()) headers.connection = "close";
    return new Response(`hello from ${pid}\n`, { headers });
  };
}

/**
 * The primary: starts the first process, a replacement when asked, and retires the old one once it listens.
 * `spawn(events)` starts one and returns `{ drain(), kill(), exited }`.
 */
function primary(spawn, onSigterm) {
  let current;
  let replacing = false;
  let recycles = 0;
  const children = new Set();
  const start = () => {
    const child = spawn({
      limit() {
        if (child !== current || replacing) return;
        replacing = true;
        start();
      },
      listening() {
        const old = current;
        current = child;
        replacing = false;
        if (!old) return console.error("listening");
        recycles++;
        console.error("recycled");
        old.drain();
      },
    });
    children.add(child);
    child.exited.then(() => children.delete(child));
  };
  start();
  onSigterm(() => {
    console.error(`recycles ${recycles}`);
    for (const child of children) child.kill();
  });
}

const bun = globalThis.Bun;

/** Send a child `name`, unless it is gone already. */
function signal(child, name) {
  try {
    child.kill(name);
  } catch {
    // Gone already.
  }
}

/** Events from a child's stdout, a line each ("limit", "listening"). */
async function readEvents(stdout, events) {
  let pending = "";
  for await (const chunk of stdout.pipeThrough(new TextDecoderStream())) {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop();
    for (const line of lines) if (line in events) events[line]();
  }
}

if (bun && bun.env.FLOOR_ROLE !== "worker") {
  primary((events) => {
    const child = bun.spawn([globalThis.process.execPath, new URL(import.meta.url).pathname], {
      env: { ...bun.env, FLOOR_ROLE: "worker" },
      stdout: "pipe",
      stderr: "inherit",
    });
    void readEvents(child.stdout, events);
    return { drain: () => signal(child, "SIGTERM"), kill: () => signal(child, "SIGKILL"), exited: child.exited };
  }, (stop) => {
    globalThis.process.on("SIGTERM", () => {
      stop();
      globalThis.process.exit(0);
    });
  });
} else if (bun) {
  // As rota's Bun workers: `Bun.serve` on a `reusePort` socket; a draining one stops listening after the settle
  // (queued connections migrate to the new process's socket with tcp_migrate_req, which rota sets as root).
  const say = (line) => globalThis.process.stdout.write(`${line}\n`);
  let answered = 0;
  let draining = false;
  await new Promise((resolve) => setTimeout(resolve, initMs));
  const server = bun.serve({
    port,
    hostname: "127.0.0.1",
    reusePort: true,
    fetch: handler(() => draining, () => recycle && ++answered === LIMIT && say("limit")),
  });
  say("listening");
  globalThis.process.on("SIGTERM", async () => {
    draining = true;
    await new Promise((resolve) => setTimeout(resolve, DRAIN_SETTLE_MS));
    await server.stop();
    globalThis.process.exit(0);
  });
} else if (deno && env("FLOOR_ROLE") !== "worker") {
  primary((events) => {
    const child = new deno.Command(deno.execPath(), {
      args: ["run", "-A", "--unstable-net", new URL(import.meta.url).pathname],
      env: { FLOOR_ROLE: "worker" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    void readEvents(child.stdout, events);
    return { drain: () => signal(child, "SIGTERM"), kill: () => signal(child, "SIGKILL"), exited: child.status };
  }, (stop) => {
    deno.addSignalListener("SIGTERM", () => {
      stop();
      deno.exit(0);
    });
  });
} else if (deno) {
  const say = (line) => deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
  let answered = 0;
  let draining = false;
  await new Promise((resolve) => setTimeout(resolve, initMs));
  const server = deno.serve(
    { port, hostname: "127.0.0.1", reusePort: true, onListen: () => say("listening") },
    handler(() => draining, () => recycle && ++answered === LIMIT && say("limit")),
  );
  deno.addSignalListener("SIGTERM", async () => {
    draining = true;
    await new Promise((resolve) => setTimeout(resolve, DRAIN_SETTLE_MS));
    await server.shutdown();
    deno.exit(0);
  });
} else {
  const { default: cluster } = await import("node:cluster");
  const { default: process } = await import("node:process");
  if (cluster.isPrimary) {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    primary((events) => {
      const worker = cluster.fork();
      worker.on("message", (message) => message === "limit" && events.limit());
      worker.on("listening", () => events.listening());
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      return { drain: () => worker.send("drain"), kill: () => worker.process.kill("SIGKILL"), exited };
    }, (stop) => {
      process.on("SIGTERM", () => {
        stop();
        process.exit(0);
      });
    });
  } else {
    const { createAdaptorServer } = await import("@hono/node-server");
    const { Server } = await import("node:net");
    let answered = 0;
    let draining = false;
    const server = createAdaptorServer({
      fetch: handler(() => draining, () => recycle && ++answered === LIMIT && process.send("limit")),
    });
    await new Promise((resolve) => setTimeout(resolve, initMs));
    server.listen({ port, host: "127.0.0.1" });
    process.on("message", (message) => {
      if (message !== "drain") return;
      draining = true;
      Server.prototype.close.call(server);
      setTimeout(() => {
        server.close(() => process.exit(0));
        server.closeIdleConnections();
      }, DRAIN_SETTLE_MS);
    });
  }
}
