import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "..", "..");

test("mod.ts exports what users need and none of the program's internals", async () => {
  const mod = await import("../../mod.ts");
  assert.deepEqual(Object.keys(mod).sort(), ["RotaError", "defineApp", "getConnInfo", "serve", "upgradeWebSocket"]);
});

test("running mod.ts as a program starts nothing: the command line lives in main.ts", () => {
  const ran = spawnSync(process.execPath, [join(ROOT, "mod.ts"), "serve", "nowhere.js"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  assert.deepEqual([ran.status, ran.stdout, ran.stderr], [0, "", ""]);
  const program = spawnSync(process.execPath, [join(ROOT, "main.ts"), "--version"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  assert.equal(program.status, 0, program.stderr);
  assert.match(program.stdout, /^rota \d+\.\d+\.\d+ \(node\)\n$/);
});
