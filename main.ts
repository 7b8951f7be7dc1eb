#!/usr/bin/env node
/**
 * The `rota` program: the command line, and the module every worker process
 * runs (a supervisor spawns this file, which turns into a worker when it
 * finds a spec in its environment).
 *
 * Unlike every other module, loading this one starts the program: it is an
 * entry point, and nothing imports it. The library is `mod.ts`.
 *
 * @module
 */

import { holdSignals } from "./adapters/early_signals.ts";
import { spawnedChannel } from "./adapters/_deno/channel.ts";
import { SPEC_VARIABLE } from "./runtime/protocol.ts";

// From the first moment: a SIGTERM while the rest of rota loads is held, not fatal.
const held = holdSignals();

// Not awaited: nothing may wait on this module's evaluation (an app module
// that imports "rota" shares its dependencies). A worker loads the worker
// only; one that a Deno supervisor spawned itself loads nothing of Node's
// (adapters/_deno/spawn.ts).
const entry = spawnedChannel() !== undefined
  ? import("./adapters/_deno/worker_main.ts")
  : specGiven()
  ? import("./adapters/worker_main.ts")
  : import("./adapters/mod.ts");
void entry.then(({ main }) => main(held));

/** Whether a supervisor put a worker's spec in this process's environment (read, not taken: the host takes it). */
function specGiven(): boolean {
  const global = globalThis as unknown as {
    Deno?: { env: { get(name: string): string | undefined } };
    process?: { env: Record<string, string | undefined> };
  };
  try {
    return (global.Deno ? global.Deno.env.get(SPEC_VARIABLE) : global.process?.env[SPEC_VARIABLE]) !== undefined;
  } catch {
    // Deno without the permission to read it: no supervisor of ours started this process.
    return false;
  }
}
