// The least a supervisor does, for its memory: start one worker with an IPC channel (Bun.spawn's on Bun,
// node:cluster's elsewhere, as rota's supervisors do) and exchange a message with it every 100 ms (rota's
// heartbeats are one a second, and more under load). LISTEN=1 also opens a TCP listener (rota's supervisors probe
// the port and keep a control socket). Prints "supervising" once its worker answered.
import cluster from "node:cluster";
import process from "node:process";

if (process.env.FLOOR_ROLE === "worker" || cluster.isWorker) {
  process.on("message", (message) => process.send(message));
  // Alive while the supervisor is (Bun does not keep a process alive for its IPC channel alone).
  setInterval(() => {}, 60_000);
} else {
  if (process.env.LISTEN === "1") {
    const net = await import("node:net");
    net.createServer(() => {}).listen(0, "127.0.0.1");
  }
  let answered = false;
  const heard = () => answered || (answered = true, console.error("supervising"));
  if ("Bun" in globalThis) {
    const child = globalThis.Bun.spawn([process.execPath, import.meta.path], {
      env: { ...process.env, FLOOR_ROLE: "worker" },
      stdio: ["inherit", "inherit", "inherit"],
      serialization: "json",
      ipc: heard,
    });
    setInterval(() => child.send({ at: Date.now() }), 100);
    process.on("SIGTERM", () => {
      child.kill("SIGKILL");
      process.exit(0);
    });
  } else {
    const worker = cluster.fork();
    worker.on("message", heard);
    setInterval(() => worker.send({ at: Date.now() }), 100);
    process.on("SIGTERM", () => {
      worker.process.kill("SIGKILL");
      process.exit(0);
    });
  }
}
