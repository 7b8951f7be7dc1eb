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

// From the first moment: a SIGTERM while the rest of rota loads is held, not fatal.
const held = holdSignals();

// Not awaited: nothing may wait on this module's evaluation (an app module
// that imports "rota" shares its dependencies). A Deno worker its supervisor
// spawned itself loads nothing of Node's (adapters/_deno/spawn.ts).
void (spawnedChannel() === undefined ? import("./adapters/mod.ts") : import("./adapters/_deno/worker_main.ts"))
  .then(({ main }) => main(held));
