/**
 * rota from its sources: without `node_modules`, as someone who cloned the
 * repository and runs it with Deno or Bun (or Node 24) before any install
 * (each runtime loads only its own adapter, and nothing loads an npm package
 * before a Node or Deno worker listens); and built by `build.js` on Node 20.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { VERSION } from "../runtime/version.ts";
import { FIXTURES, get, killLeftovers, ROOT, Rota, systemNode, type Target } from "./_harness.ts";
import { reachable } from "./_module_graph.ts";

const BIN = join(ROOT, "node_modules", ".bin");

describe("the sources, copied without node_modules", { timeout: 120_000 }, () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "rota-sources-"));
    for (const entry of ["mod.ts", "main.ts", "deno.json", "runtime", "adapters"]) {
      cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
    }
    mkdirSync(join(dir, "deno-cache"));
  });

  after(async () => {
    await killLeftovers();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const runtimes: Array<[string, string[]]> = [
    // With an empty DENO_DIR (below) and --cached-only, any npm package Deno reached for would fail the run.
    ["deno", [join(BIN, "deno"), "run", "--cached-only", "-A"]],
    ["bun", [join(BIN, "bun")]],
    ["node", [join(BIN, "node")]],
  ];
  for (const [runtime, script] of runtimes) {
    test(`rota --version runs on ${runtime} with no npm package at hand`, async () => {
      const target: Target = { name: runtime, script, command: [...script, join(dir, "main.ts")] };
      const rota = Rota.run(target, ["--version"], { cwd: dir, env: { DENO_DIR: join(dir, "deno-cache") } });
      assert.deepEqual(await rota.exited, { code: 0, signal: null }, rota.log);
      assert.equal(rota.stdout, `rota ${VERSION} (${runtime})\n`);
    });
  }

  test("Bun serves an app from the sources with no npm package at all", async () => {
    const target: Target = {
      name: "bun",
      script: [join(BIN, "bun")],
      command: [join(BIN, "bun"), join(dir, "main.ts")],
    };
    const rota = await Rota.serve(target, join(FIXTURES, "hello.js"), ["--workers", "1"], { cwd: dir });
    assert.equal((await get(rota.url)).status, 200);
    assert.equal((await rota.stop()).code, 0);
  });
});

describe("build.js", { timeout: 120_000 }, () => {
  test("builds dist/ from a copy of the sources on the machine's Node 20, which cannot run TypeScript", () => {
    const dir = mkdtempSync(join(tmpdir(), "rota-build-"));
    try {
      for (const entry of ["mod.ts", "main.ts", "build.js", "package.json", "deno.json", "tsconfig.json"]) {
        cpSync(join(ROOT, entry), join(dir, entry));
      }
      for (const entry of ["runtime", "adapters", "tsconfig.build.json"]) {
        cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
      }
      symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
      const build = spawnSync(systemNode(), ["build.js"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
      assert.equal(build.status, 0, build.stdout + build.stderr);
      for (const file of ["dist/main.js", "dist/mod.js", "dist/ts_hooks.js", "dist/types/mod.d.ts"]) {
        assert.ok(existsSync(join(dir, file)), file);
      }
      const version = spawnSync(systemNode(), [join(dir, "dist", "main.js"), "--version"], {
        encoding: "utf8",
        timeout: 10_000,
      });
      assert.equal(version.stdout, `rota ${VERSION} (node)\n`, version.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("package.json", () => {
  test("allows the install script of every dependency that has one (npm 12 skips the others)", () => {
    // npm 11.16 and later warn about install scripts that package.json's
    // `allowScripts` does not name; npm 12 skips them, and then `bun`, `deno`,
    // `esbuild` and Node 24 from npm are left without their binaries.
    const read = (file: string) => JSON.parse(readFileSync(join(ROOT, file), "utf8"));
    const { allowScripts = {} } = read("package.json");
    const locked = read("package-lock.json").packages as Record<
      string,
      { version?: string; hasInstallScript?: boolean }
    >;
    const withScripts = Object.entries(locked)
      .filter(([path, entry]) => path !== "" && entry.hasInstallScript)
      .map(([path, entry]) => ({
        name: path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length),
        entry,
      }));
    assert.ok(withScripts.length > 0, "package-lock.json names no package with an install script");
    // By name, or pinned to the locked version (`npm install-scripts approve` writes either).
    const allowed = ({ name, entry }: (typeof withScripts)[number]) =>
      allowScripts[name] === true || allowScripts[`${name}@${entry.version}`] === true;
    assert.deepEqual(withScripts.filter((script) => !allowed(script)).map(({ name }) => name), []);
  });
});

describe("what a worker loads", { timeout: 60_000 }, () => {
  // Besides the adapters' own modules, which are the supervisor's side as well as the worker's (`memory_watch.ts`'s
  // heap limit comes with the spawning), what only a supervisor or the command line runs:
  const supervisorOnly = [
    "/runtime/cli.ts",
    "/runtime/server.ts",
    "/runtime/options.ts",
    "/runtime/supervisor/supervisor.ts",
    "/runtime/ops/prometheus.ts",
    "/runtime/ops/status_page.ts",
    "/runtime/ops/admin_routes.ts",
  ];
  const loaded = (seen: Set<string>) =>
    supervisorOnly.filter((module) => [...seen].some((specifier) => specifier.endsWith(module)));
  const url = (path: string) => pathToFileURL(join(ROOT, path)).href;
  const edge = (from: string, to: string) => (specifier: string, importer: string) =>
    importer === url(from) && specifier === url(to);

  test("a Node or Bun worker (adapters/worker_main.ts) loads neither the command line nor the supervisor", () => {
    // Not followed: main.ts's other branches (the command line's, a spawned Deno worker's) and worker_main's
    // fallback to the command line, all dynamic imports; every other import is, dynamic ones too.
    const others = [
      edge("main.ts", "adapters/mod.ts"),
      edge("main.ts", "adapters/_deno/worker_main.ts"),
      edge("adapters/worker_main.ts", "adapters/mod.ts"),
    ];
    const seen = reachable((specifier, dynamic, from) => !(dynamic && others.some((other) => other(specifier, from))));
    for (const module of ["/adapters/worker_main.ts", "/runtime/worker/worker.ts", "/adapters/bun.ts"]) {
      assert.ok([...seen].some((specifier) => specifier.endsWith(module)), module);
    }
    assert.deepEqual(loaded(seen), []);
  });

  test('an app that imports "rota" loads them only when it calls serve()', () => {
    const serve = edge("mod.ts", "adapters/mod.ts");
    const seen = reachable((specifier, dynamic, from) => !(dynamic && serve(specifier, from)), "mod.ts");
    assert.ok([...seen].some((specifier) => specifier.endsWith("/runtime/app.ts")));
    assert.deepEqual(loaded(seen), []);
    // And serve() does load them.
    assert.deepEqual(loaded(reachable(() => true, "mod.ts")), supervisorOnly);
  });

  const runtimes: Array<[string, string[]]> = [
    ["node", [join(BIN, "node"), join(ROOT, "dist", "main.js")]],
    ["bun", [join(BIN, "bun"), join(ROOT, "main.ts")]],
    ["deno", [join(BIN, "deno"), "run", "-A", join(ROOT, "main.ts")]],
  ];
  for (const [runtime, command] of runtimes) {
    test(`on ${runtime}, a worker's spec in the environment without a supervisor to talk to leaves the command line`, () => {
      const run = spawnSync(command[0], [...command.slice(1), "--version"], {
        encoding: "utf8",
        timeout: 30_000,
        env: { ...process.env, ROTA_WORKER_SPEC: "{}" },
      });
      assert.equal(run.stdout, `rota ${VERSION} (${runtime})\n`, run.stderr);
      assert.equal(run.status, 0);
    });
  }
});
