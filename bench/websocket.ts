/**
 * WebSockets through rota, per runtime (`test/fixtures/web.js`, W = 2):
 *
 * - echo: BENCH_SOCKETS (50) sockets, each sending a message and waiting for
 *   its echo, again and again, for BENCH_SECONDS (5): messages a second and
 *   round-trip times;
 * - recycle: the same sockets each send a message every 100 ms while a SIGHUP
 *   replaces both workers (`--graceful-timeout 2s`); each socket reconnects as
 *   soon as it closes. How they closed, how many messages were still
 *   unanswered at the close (sent after the server's close frame left), how
 *   many reconnection attempts were refused (503 or a failed handshake), and
 *   how long from the close to the new socket's greeting.
 *
 *   npm run bench:websocket
 *   BENCH_TARGETS=bun BENCH_SOCKETS=200 npm run bench:websocket
 *
 * Prints markdown tables. Not a test: nothing here passes or fails.
 */

import process from "node:process";
import { Rota, TARGETS } from "../test/_harness.ts";

const targets = (process.env.BENCH_TARGETS ?? "node-system,node-npm,bun,deno").split(",");
const sockets = Number(process.env.BENCH_SOCKETS ?? 50);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** A socket whose next message is awaited, bounded. */
function open(url: string): Promise<{ socket: WebSocket; next(): Promise<string> }> {
  return new Promise((done, fail) => {
    const socket = new WebSocket(url);
    const queue: string[] = [];
    const waiting: Array<(text: string) => void> = [];
    socket.addEventListener("message", (event) => {
      const waiter = waiting.shift();
      if (waiter) waiter(String(event.data));
      else queue.push(String(event.data));
    });
    const next = () =>
      queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no message within 10 s")), 10_000);
        waiting.push((text) => {
          clearTimeout(timer);
          resolve(text);
        });
      });
    socket.addEventListener("open", () => done({ socket, next }), { once: true });
    socket.addEventListener("error", () => fail(new Error("handshake failed")), { once: true });
  });
}

async function echo(rota: Rota): Promise<string> {
  const url = `ws://127.0.0.1:${rota.port}/ws`;
  const clients = await Promise.all(Array.from({ length: sockets }, () => open(url)));
  await Promise.all(clients.map((c) => c.next()));
  const times: number[] = [];
  const until = Date.now() + seconds * 1000;
  await Promise.all(clients.map(async (client) => {
    while (Date.now() < until) {
      const started = performance.now();
      client.socket.send("x");
      await client.next();
      times.push(performance.now() - started);
    }
  }));
  for (const client of clients) client.socket.close();
  times.sort((a, b) => a - b);
  return `| ${sockets} | ${Math.round(times.length / seconds)} | ${percentile(times, 50).toFixed(2)} | ${
    percentile(times, 99).toFixed(2)
  } |`;
}

interface Outcome {
  code: number;
  unanswered: number;
  refused: number;
  reconnectMs: number;
  samePid: boolean;
}

/** One socket through the recycle: ping every 100 ms until it closes, then reconnect. */
async function throughRecycle(url: string, greeted: () => void): Promise<Outcome> {
  const client = await open(url);
  const { hello: oldPid } = JSON.parse(await client.next());
  greeted();
  let unanswered = 0;
  const timer = setInterval(() => {
    if (client.socket.readyState !== WebSocket.OPEN) return;
    unanswered++;
    client.socket.send("ping");
  }, 100);
  client.socket.addEventListener("message", () => unanswered--);
  const closed = await new Promise<CloseEvent>((done) => client.socket.addEventListener("close", done, { once: true }));
  clearInterval(timer);
  const closedAt = performance.now();
  let refused = 0;
  for (;;) {
    try {
      const fresh = await open(url);
      const { hello } = JSON.parse(await fresh.next());
      fresh.socket.close();
      return {
        code: closed.code,
        unanswered,
        refused,
        reconnectMs: performance.now() - closedAt,
        samePid: hello === oldPid,
      };
    } catch {
      refused++;
      if (refused > 50) throw new Error("could not reconnect");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function recycle(rota: Rota): Promise<string> {
  const url = `ws://127.0.0.1:${rota.port}/ws`;
  let greetings = 0;
  let allGreeted!: () => void;
  const ready = new Promise<void>((r) => (allGreeted = r));
  const outcomes = Array.from({ length: sockets }, () =>
    throughRecycle(url, () => {
      if (++greetings === sockets) allGreeted();
    }));
  await ready;
  rota.signal("SIGHUP");
  const done = await Promise.all(outcomes);
  const codes = new Map<number, number>();
  for (const o of done) codes.set(o.code, (codes.get(o.code) ?? 0) + 1);
  const reconnect = done.map((o) => o.reconnectMs).sort((a, b) => a - b);
  return `| ${sockets} | ${[...codes].map(([code, n]) => `${n}× ${code}`).join(", ")} | ${
    done.reduce((n, o) => n + o.unanswered, 0)
  } | ${done.reduce((n, o) => n + o.refused, 0)} | ${done.filter((o) => o.samePid).length} | ${
    percentile(reconnect, 50).toFixed(1)
  } | ${reconnect.at(-1)!.toFixed(1)} |`;
}

const echoRows: string[] = [];
const recycleRows: string[] = [];
for (const key of targets) {
  const target = TARGETS[key]();
  const rota = await Rota.serve(target, "web.js", ["--workers", "2", "--graceful-timeout", "2s"]);
  try {
    echoRows.push(`| ${target.name} ${await echo(rota)}`);
    recycleRows.push(`| ${target.name} ${await recycle(rota)}`);
  } finally {
    await rota.stop();
  }
}
console.log(`\nW = 2, ${new Date().toISOString()}\n`);
console.log("| runtime | sockets | echoes/s | p50 ms | p99 ms |");
console.log("|---|---:|---:|---:|---:|");
console.log(echoRows.join("\n"));
console.log(
  "\n| runtime | sockets | closed with | unanswered at the close | refused reconnects | back on the old worker | reconnect p50 ms | max ms |",
);
console.log("|---|---:|---|---:|---:|---:|---:|---:|");
console.log(recycleRows.join("\n"));
