// The demo: a Hono app whose init is slow (it loads and indexes a real file,
// then waits about a second, standing in for opening a database), served by
// rota on several workers. Reload the page to see different workers answer.
//
//   npm start                              # node, from the bundle
//   deno run -A mod.ts serve examples/app.js --workers 2
//   bun run mod.ts serve examples/app.js --workers 2
//
// DEMO_INIT_FAILURES=2 makes the first two init attempts of every worker fail,
// to watch the init gate answer 503 and recover without a restart.
import { readFile } from "node:fs/promises";
import process from "node:process";
import { Hono } from "hono";

const failures = Number(process.env.DEMO_INIT_FAILURES ?? "0");

/** @param {number} ms @param {AbortSignal} signal */
const pause = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

const app = new Hono();

app.get("/", (c) => {
  const { state, worker } = c.env;
  const rows = state.catalog.map((item) => `<li><b>${item.name}</b>: ${item.note}</li>`).join("");
  return c.html(`<!doctype html>
<title>rota demo</title>
<style>body{font:16px system-ui;margin:2rem auto;max-width:42rem}code{background:#eee;padding:0 .3em}</style>
<h1>rota demo</h1>
<p>Answered by worker <code>${worker.slot}.${worker.generation}</code>, pid <code>${worker.pid}</code>, on
<code>${worker.runtime}</code>.</p>
<p>Its init succeeded on attempt <code>${state.attempt}</code> and took <code>${state.initMs} ms</code>,
at ${state.loadedAt}.</p>
<h2>Catalogue (${state.catalog.length} items, loaded in init)</h2>
<ul>${rows}</ul>
<p><a href="/api/worker">/api/worker</a> as JSON.</p>`);
});

app.get("/api/worker", (c) => c.json({ worker: c.env.worker, attempt: c.env.state.attempt, items: c.env.state.catalog.length }));

export default {
  async init({ signal, attempt }) {
    const started = Date.now();
    const text = await readFile(new URL("./catalog.json", import.meta.url), { encoding: "utf8", signal });
    const catalog = JSON.parse(text);
    await pause(1000, signal);
    if (attempt <= failures) throw new Error(`demo: init attempt ${attempt} fails on purpose`);
    return { catalog, attempt, initMs: Date.now() - started, loadedAt: new Date().toISOString() };
  },
  fetch: app.fetch,
  dispose({ worker }) {
    console.error(`demo: worker ${worker.slot}.${worker.generation} says goodbye`);
  },
};
