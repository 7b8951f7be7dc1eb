// The floor of replacement-first recycling, without rota: the runtime's own server running the seed's handler,
// whose serving process, once it answered 500 requests, is replaced the way rota replaces a worker. A new process
// starts, waits BENCH_INIT_MS (the seed's init, 1000 ms), listens; only then the old one answers with
// `Connection: close`, stops listening, and exits once its server closed. Nothing else: no health paths, no
// metrics, no supervisor protocol, and a drain that may drop connections (Deno's `shutdown()`); so it measures what
// a fresh process costs the runtime at this cadence, which no supervisor can go below.
//
// Node: a `node:cluster` primary owning the socket (as rota's), workers on `@hono/node-server`. Deno: processes
// with `Deno.serve` on `reusePort` sockets (as rota's, needs --unstable-net). PORT from the environment;
// RECYCLE=0 never replaces (the same server, for the ratio). Prints "listening" once the first process listens,
// "recycled" at each replacement, and "recycles <n>" at SIGTERM.
import cluster from "node:cluster";
import process from "node:process";

const port = Number(process.env.PORT);
const recycle = process.env.RECYCLE !== "0";
const initMs = Number(process.env.BENCH_INIT_MS ?? 1000);
const LIMIT = 500;
const isWorker = cluster.isWorker || process.env.FLOOR_ROLE === "worker";

/** The seed's one-line answer; `Connection: close` once the process drains. */
function handler(draining, counted) {
  return () => {
    counted();
    const headers = { "content-type": "text/plain" };
    if (draining()) headers.connection = "close";
    return new Response(`hello from ${process.pid}\n`, { headers });
  };
}

/** The primary: starts the first process, a replacement when asked, and retires the old one once it listens. */
function primary(spawn) {
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
  };
  start();
  process.on("SIGTERM", () => {
    console.error(`recycles ${recycles}`);
    for (const child of children) child.kill();
    process.exit(0);
  });
}

if ("Deno" in globalThis && !isWorker) {
  const { Deno } = globalThis;
  primary((events) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", new URL(import.meta.url).pathname],
      env: { FLOOR_ROLE: "worker" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        for (const line of chunk.split("\n")) if (line in events) events[line]();
      }
    })();
    const signal = (name) => {
      try {
        child.kill(name);
      } catch {
        // Gone already.
      }
    };
    return { drain: () => signal("SIGTERM"), kill: () => signal("SIGKILL") };
  });
} else if ("Deno" in globalThis) {
  const { Deno } = globalThis;
  const say = (line) => Deno.stdout.writeSync(new TextEncoder().encode(`${line}\n`));
  let answered = 0;
  let draining = false;
  await new Promise((resolve) => setTimeout(resolve, initMs));
  const server = Deno.serve(
    { port, hostname: "127.0.0.1", reusePort: true, onListen: () => say("listening") },
    handler(() => draining, () => recycle && ++answered === LIMIT && say("limit")),
  );
  Deno.addSignalListener("SIGTERM", async () => {
    draining = true;
    await server.shutdown();
    Deno.exit(0);
  });
} else if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  primary((events) => {
    const worker = cluster.fork();
    worker.on("message", (message) => message === "limit" && events.limit());
    worker.on("listening", () => events.listening());
    return { drain: () => worker.send("drain"), kill: () => worker.process.kill("SIGKILL") };
  });
} else {
  const { createAdaptorServer } = await import("@hono/node-server");
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
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}
