// The demo: a Hono app whose init is slow (it loads and indexes a real file,
// then waits about a second, standing in for opening a database), served by
// rota on several workers. Reload the page to see different workers answer.
//
//   npm start                              # node, from the bundle
//   deno run -A main.ts serve examples/app.js --workers 2 --app-config examples/settings.json
//   bun run main.ts serve examples/app.js --workers 2 --app-config examples/settings.json
//
// DEMO_INIT_FAILURES=2 makes the first two init attempts of every worker fail,
// to watch the init gate answer 503 and recover without a restart.
//
// The banner comes from the shared configuration (examples/settings.json,
// given with --app-config): change it in the form and every worker shows the new
// value on its next answer. It is written back to the file, so a restart keeps it.
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

const escape = (text) => String(text).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

app.get("/", (c) => {
  const { state, worker, config } = c.env;
  const settings = config.get();
  const rows = state.catalog.map((item) => `<li><b>${item.name}</b>: ${item.note}</li>`).join("");
  const published = c.req.query("published");
  return c.html(`<!doctype html>
<title>rota demo</title>
<style>body{font:16px system-ui;margin:2rem auto;max-width:42rem}code{background:#eee;padding:0 .3em}
.banner{background:${escape(settings.colour ?? "#333")};color:#fff;padding:.6rem 1rem;border-radius:4px}</style>
<h1>rota demo</h1>
<p class="banner">${escape(settings.banner ?? "")}</p>
<form method="post" action="/settings">
  <label>Banner <input name="banner" value="${escape(settings.banner ?? "")}" size="30"></label>
  <label>Colour <input name="colour" type="color" value="${escape(settings.colour ?? "#333333")}"></label>
  <input type="hidden" name="ifVersion" value="${config.version}">
  <button>Publish to every worker</button>
</form>
<p>Configuration version <code>${config.version}</code>${published ? ` (${escape(published)})` : ""}.</p>
<p>Answered by worker <code>${worker.slot}.${worker.generation}</code>, pid <code>${worker.pid}</code>, on
<code>${worker.runtime}</code>.</p>
<p>Its init succeeded on attempt <code>${state.attempt}</code> and took <code>${state.initMs} ms</code>,
at ${state.loadedAt}.</p>
<h2>Catalogue (${state.catalog.length} items, loaded in init)</h2>
<ul>${rows}</ul>
<p><a href="/api/worker">/api/worker</a> as JSON.</p>`);
});

app.get("/api/worker", (c) =>
  c.json({
    worker: c.env.worker,
    attempt: c.env.state.attempt,
    items: c.env.state.catalog.length,
    config: { version: c.env.config.version, value: c.env.config.get() },
  }));

app.post("/settings", async (c) => {
  const form = await c.req.parseBody();
  const next = { ...c.env.config.get(), banner: String(form.banner ?? ""), colour: String(form.colour ?? "#333333") };
  try {
    const { version, failed } = await c.env.config.publish(next, { ifVersion: Number(form.ifVersion) });
    const note = failed.length === 0
      ? `every worker has version ${version}`
      : `${failed.length} worker(s) failed to apply it`;
    return c.redirect(`/?published=${encodeURIComponent(note)}`, 303);
  } catch (error) {
    if (error.code === "ERR_ROTA_CONFIG_CONFLICT") {
      return c.redirect(`/?published=${encodeURIComponent("someone else changed it first; here is theirs")}`, 303);
    }
    throw error;
  }
});

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
  reload({ config, worker }) {
    console.error(`demo: worker ${worker.slot}.${worker.generation} applied configuration version ${config.version}`);
  },
  dispose({ worker }) {
    console.error(`demo: worker ${worker.slot}.${worker.generation} says goodbye`);
  },
};
