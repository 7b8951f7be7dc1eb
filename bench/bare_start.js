// A bare process of this runtime doing what a worker must before it is ready:
// import the app (argv[2]) and run its init; with argv[3] = "listen", also
// listen on the runtime's own server (port 0), as any server must. Prints
// "ready <init ms>" on stdout.
import process from "node:process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const { default: app } = await import(pathToFileURL(resolve(process.argv[2])).href);
const started = performance.now();
const state = await app.init({
  signal: new AbortController().signal,
  attempt: 1,
  config: { get: () => ({}), version: 0, publish: () => Promise.reject(new Error("bare")) },
  worker: { slot: 0, generation: 0, pid: process.pid, runtime: "bare" },
});
const initMs = performance.now() - started;
if (process.argv[3] === "listen") {
  const env = { state, worker: { pid: process.pid } };
  const fetch = (request) => app.fetch(request, env);
  if ("Deno" in globalThis) {
    await new Promise((listening) =>
      globalThis.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: listening }, fetch)
    );
  } else if ("Bun" in globalThis) {
    globalThis.Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
  } else {
    const { createAdaptorServer } = await import("@hono/node-server");
    await new Promise((listening) => createAdaptorServer({ fetch }).listen(0, "127.0.0.1", listening));
  }
}
console.log(`ready ${initMs.toFixed(1)}`);
process.exit(0);
