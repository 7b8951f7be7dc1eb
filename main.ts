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

import { main } from "./adapters/mod.ts";

// Not awaited: nothing may wait on this module's evaluation (an app module
// that imports "rota" shares its dependencies).
void main();
