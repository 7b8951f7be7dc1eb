// The least a supervisor does, for its memory: start one worker with a channel as rota's supervisors do, and
// exchange a message with it every 100 ms (rota's heartbeats are one a second, and more under load). The channel:
// Bun.spawn's IPC on Bun, node:cluster's on Node, and on Deno a Unix socket and Deno.Command, all through Deno's own
// API (rota's Deno supervisor spawns its Deno.serve workers so, and loads none of Deno's Node layer). LISTEN=1 also
// opens a TCP listener (rota's supervisors probe the port and keep a control socket). Prints "supervising" once its
// worker answered.
const deno = globalThis.Deno;

if (deno) {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  /** Calls `onLine` with each JSON line `conn` sends, parsed, until it closes. */
  const readLines = async (conn, onLine) => {
    const buffer = new Uint8Array(64 * 1024);
    let pending = "";
    for (;;) {
      const read = await conn.read(buffer);
      if (read === null) return;
      pending += decoder.decode(buffer.subarray(0, read), { stream: true });
      let end;
      while ((end = pending.indexOf("\n")) >= 0) {
        onLine(JSON.parse(pending.slice(0, end)));
        pending = pending.slice(end + 1);
      }
    }
  };
  if (deno.env.get("FLOOR_ROLE") === "worker") {
    const conn = await deno.connect({ transport: "unix", path: deno.env.get("FLOOR_SOCKET") });
    await readLines(conn, (message) => conn.write(encoder.encode(`${JSON.stringify(message)}\n`)));
    deno.exit(0);
  } else {
    if (deno.env.get("LISTEN") === "1") deno.listen({ hostname: "127.0.0.1", port: 0 });
    const directory = deno.makeTempDirSync({ prefix: "rota-floor-" });
    const path = `${directory}/c`;
    const listener = deno.listen({ transport: "unix", path });
    const child = new deno.Command(deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname],
      env: { FLOOR_ROLE: "worker", FLOOR_SOCKET: path },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    deno.addSignalListener("SIGTERM", () => {
      child.kill("SIGKILL");
      deno.removeSync(directory, { recursive: true });
      deno.exit(0);
    });
    const conn = await listener.accept();
    let answered = false;
    setInterval(() => conn.write(encoder.encode(`${JSON.stringify({ at: Date.now() })}\n`)), 100);
    await readLines(conn, () => answered || (answered = true, console.error("supervising")));
  }
} else {
  const { default: cluster } = await import("node:cluster");
  const { default: process } = await import("node:process");
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
}
