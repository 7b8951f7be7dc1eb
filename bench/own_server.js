// The same handler as bench/slow_init.js on the runtime's own server, no rota:
// the baseline rota's rows are compared against. PORT from the environment;
// REUSE_PORT=1 binds with SO_REUSEPORT (start several processes; Deno needs
// --unstable-net, Node >= 22.12); on Node, CLUSTER_WORKERS=n forks n node:cluster
// workers sharing one socket owned by the primary (SCHED_NONE, as rota does).
import cluster from "node:cluster";
import process from "node:process";

const port = Number(process.env.PORT);
const hostname = "127.0.0.1";
const reusePort = process.env.REUSE_PORT === "1";
const clusterWorkers = Number(process.env.CLUSTER_WORKERS ?? 0);
const fetch = () => new Response(`hello from ${process.pid}\n`, { headers: { "content-type": "text/plain" } });
const listening = () => console.error(`listening (pid ${process.pid})`);

if ("Deno" in globalThis) {
  globalThis.Deno.serve({ port, hostname, reusePort, onListen: listening }, fetch);
} else if ("Bun" in globalThis) {
  globalThis.Bun.serve({ port, hostname, reusePort, fetch });
  listening();
} else if (clusterWorkers > 0 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let up = 0;
  cluster.on("listening", () => ++up === clusterWorkers && listening());
  for (let i = 0; i < clusterWorkers; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
    process.exit(0);
  });
} else {
  const { createAdaptorServer } = await import("@hono/node-server");
  createAdaptorServer({ fetch }).listen({ port, host: hostname, reusePort }, cluster.isWorker ? undefined : listening);
}
