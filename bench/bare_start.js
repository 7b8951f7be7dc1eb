// A bare process of this runtime doing what a worker must before it is ready:
// import the app (argv[2]) and run its init. Prints "ready <init ms>" on stdout.
import process from "node:process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const { default: app } = await import(pathToFileURL(resolve(process.argv[2])).href);
const started = performance.now();
await app.init({
  signal: new AbortController().signal,
  attempt: 1,
  config: { get: () => ({}), version: 0, publish: () => Promise.reject(new Error("bare")) },
  worker: { slot: 0, generation: 0, pid: process.pid, runtime: "bare" },
});
console.log(`ready ${(performance.now() - started).toFixed(1)}`);
process.exit(0);
