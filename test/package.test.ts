/**
 * The npm package as a new user gets it: `npm pack`, then the tarball
 * installed into a fresh project (from the registry and npm's cache only),
 * type-checked, and run with `npx rota`, from code, on Node 20 (the machine's)
 * and Node 24 (npm's), and on Bun and Deno.
 */

import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import {
  alive,
  FIXTURES,
  freePort,
  get,
  killLeftovers,
  ROOT,
  Rota,
  systemNode,
  type Target,
  waitFor,
  workerStart,
} from "./_harness.ts";
import { packAndInstall, run } from "./_package.ts";

const BIN = join(ROOT, "node_modules", ".bin");

/** The README's WebSocket example, served by `rota`: the client's address, and a WebSocket echo from `worker`. */
async function chatsWith(rota: Rota, worker: number): Promise<void> {
  const ip = JSON.parse((await get(`${rota.url}/ip`)).body);
  assert.equal(ip.remote.address, "127.0.0.1");
  assert.equal(ip.remote.transport, "tcp");
  const socket = new WebSocket(`ws://127.0.0.1:${rota.port}/ws`);
  const messages: string[] = [];
  socket.addEventListener("message", (event) => messages.push(String(event.data)));
  try {
    await waitFor("the WebSocket to open", () => socket.readyState === WebSocket.OPEN, 10_000);
    await waitFor("the greeting", () => messages.length === 1, 10_000);
    socket.send("hi");
    await waitFor("the echo", () => messages.length === 2, 10_000);
    assert.deepEqual(messages, [`hello from ${worker}`, "echo: hi"]);
  } finally {
    socket.close();
  }
}

/** PATH with this node's directory first and no node_modules/.bin, so `npx` and `#!/usr/bin/env node` find it. */
function pathFor(nodeDir: string): string {
  const rest = (process.env.PATH ?? "").split(delimiter).filter((dir) => dir && !dir.includes("node_modules"));
  return [nodeDir, ...rest].join(delimiter);
}

const NODES = [
  { name: "Node 20 (machine)", node: systemNode(), path: pathFor(dirname(systemNode())) },
  { name: "Node 24 (npm)", node: join(BIN, "node"), path: pathFor(BIN) },
];

describe("the npm package", { timeout: 300_000 }, () => {
  let dir: string;
  let project: string;
  let files: readonly string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "rota-pack-"));
    ({ files, project } = await packAndInstall(dir, ["hono@4", "esbuild", "@hono/node-ws"]));
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const quickStart = /## Quick start\s+```ts\n([\s\S]*?)```/.exec(readme);
    assert.ok(quickStart, "the README has a TypeScript quick start");
    writeFileSync(join(project, "app.ts"), quickStart[1]);
    const chat = /## Client address and WebSockets\s[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
    assert.ok(chat, "the README has a WebSocket example");
    writeFileSync(join(project, "chat.ts"), chat[1]);
    copyFileSync(join(FIXTURES, "one_copy.js"), join(project, "one_copy.js"));
  });

  after(async () => {
    await killLeftovers();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the tarball holds the bundle, its declarations and the licence, and no sources or tests", () => {
    for (const file of ["dist/main.js", "dist/mod.js", "dist/ts_hooks.js", "dist/types/mod.d.ts", "LICENSE"]) {
      assert.ok(files.includes(file), `${file} is packed`);
    }
    assert.deepEqual(files.filter((file) => /^(test|runtime|adapters|bench|examples)\/|(?<!\.d)\.ts$/.test(file)), []);
    const manifest = JSON.parse(readFileSync(join(project, "node_modules", "rota", "package.json"), "utf8"));
    assert.equal(manifest.bin.rota, "./dist/main.js");
    assert.equal(manifest.exports["."].types, "./dist/types/mod.d.ts");
  });

  test("@hono/node-ws installs beside rota, which then serves with the one @hono/node-server they share", () => {
    // npm refused this install with ERESOLVE while rota pinned @hono/node-server 2.x exactly.
    const ws = JSON.parse(readFileSync(join(project, "node_modules", "@hono", "node-ws", "package.json"), "utf8"));
    assert.ok(ws.peerDependencies["@hono/node-server"], "node-ws names node-server as a peer");
    assert.ok(existsSync(join(project, "node_modules", "@hono", "node-server", "package.json")));
    assert.ok(!existsSync(join(project, "node_modules", "rota", "node_modules")), "rota has no copy of its own");
  });

  test("the README's quick start type-checks against the installed declarations, and a wrong app does not", async () => {
    const tsc = join(BIN, "tsc");
    const init = await run(tsc, ["--init"], { cwd: project });
    assert.equal(init.code, 0, init.stdout);
    const good = await run(tsc, ["--noEmit", "--skipLibCheck", "false"], { cwd: project });
    assert.equal(good.code, 0, good.stdout);
    writeFileSync(
      join(project, "wrong.ts"),
      'import { defineApp } from "rota";\nexport default defineApp({ fetch: () => "not a Response" });\n',
    );
    try {
      const bad = await run(tsc, ["--noEmit"], { cwd: project });
      assert.notEqual(bad.code, 0, "a fetch that returns a string is refused");
      assert.match(bad.stdout, /^wrong\.ts\(2,\d+\): error TS2322/m);
      assert.doesNotMatch(bad.stdout, /^app\.ts/m);
    } finally {
      rmSync(join(project, "wrong.ts"));
    }
  });

  for (const { name, path } of NODES) {
    test(`npx rota serve answers the quick start (app.ts) on ${name}`, { timeout: 60_000 }, async () => {
      const npx: Target = { name, script: [], command: ["npx", "--no-install", "rota"] };
      // JSON lines carry the supervisor's pid: npx runs rota through a shell that
      // does not pass signals on, so the test stops rota itself.
      const rota = await Rota.serve(npx, "app.ts", ["--workers", "1", "--log-format", "json"], {
        cwd: project,
        env: { PATH: path },
      });
      const lines = rota.log.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
      const pidOf = (name: RegExp) => Number(lines.find((line) => name.test(line.name))?.pid);
      const supervisor = pidOf(/^supervisor$/);
      const worker = pidOf(/^worker /);
      assert.ok(supervisor > 0 && worker > 0, `pids from the JSON log:\n${rota.log}`);
      try {
        const answer = await get(rota.url);
        assert.equal(answer.status, 200);
        assert.match(answer.body, /^hello from \d+$/);
        assert.equal(answer.body, `hello from ${worker}`);
        process.kill(supervisor, "SIGTERM");
        await waitFor("rota to exit", () => !alive(supervisor) && !alive(worker), 15_000);
        assert.match(rota.log, /shutting down gracefully/);
      } finally {
        for (const pid of [supervisor, worker]) if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      }
    });

    test(`import { serve } from "rota" serves from code on ${name}, with one copy of rota`, async () => {
      const port = await freePort();
      writeFileSync(
        join(project, "from_code.js"),
        [
          'import { serve } from "rota";',
          `const server = await serve({ app: "./one_copy.js", workers: 1, port: ${port}, logFormat: "json" });`,
          `const answer = await (await fetch("http://127.0.0.1:${port}/")).json();`,
          "console.log(JSON.stringify({ answer, code: await server.close() }));",
          "process.exit(0);",
        ].join("\n"),
      );
      const { node } = NODES.find((n) => n.name === name)!;
      const result = await run(node, ["from_code.js"], { cwd: project, timeoutMs: 30_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout.trim().split("\n").at(-1)!), {
        answer: { conflict: true, code: "ERR_ROTA_CONFIG_CONFLICT", instanceOfRotaError: true },
        code: 0,
      });
    });
  }

  // The README's commands for Bun and Deno, on the same install (Deno both ways it serves: with --unstable-net its
  // workers are spawned by the supervisor itself, running the installed dist/main.js).
  for (
    const [name, command] of [
      ["Bun", [join(BIN, "bunx"), "--bun", "rota"]],
      ["Deno", [join(BIN, "deno"), "run", "-A", "npm:rota"]],
      ["Deno", [join(BIN, "deno"), "run", "-A", "--unstable-net", "npm:rota"]],
    ] as const
  ) {
    test(`${name} runs the installed package with one copy of rota (${command.slice(1).join(" ")})`, async () => {
      const target: Target = { name, script: [], command };
      const rota = await Rota.serve(target, "one_copy.js", ["--workers", "1"], { cwd: project });
      assert.match(rota.log, new RegExp(`on ${name.toLowerCase()}`));
      if (command.includes("--unstable-net")) {
        // On Deno.serve, from node_modules: spawned by the supervisor itself, running the installed program.
        const started = workerStart(rota.workerPids()[0]);
        assert.equal(started.forked, false);
        assert.match(started.command, /node_modules\/rota\/dist\/main\.js$/);
      }
      assert.deepEqual(JSON.parse((await get(rota.url)).body), {
        conflict: true,
        code: "ERR_ROTA_CONFIG_CONFLICT",
        instanceOfRotaError: true,
      });
      assert.equal((await rota.stop()).code, 0);
    });
  }

  for (const { name, path } of NODES) {
    test(`the README's WebSocket example (chat.ts) answers getConnInfo and a WebSocket on ${name}`, async () => {
      const npx: Target = { name, script: [], command: ["npx", "--no-install", "rota"] };
      const rota = await Rota.serve(npx, "chat.ts", ["--workers", "1", "--log-format", "json"], {
        cwd: project,
        env: { PATH: path },
      });
      const lines = rota.log.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
      const pidOf = (name: RegExp) => Number(lines.find((line) => name.test(line.name))?.pid);
      const supervisor = pidOf(/^supervisor$/);
      const worker = pidOf(/^worker /);
      try {
        await chatsWith(rota, worker);
      } finally {
        for (const pid of [supervisor, worker]) if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      }
    });
  }

  for (
    const [name, command] of [
      ["Bun", [join(BIN, "bunx"), "--bun", "rota"]],
      ["Deno", [join(BIN, "deno"), "run", "-A", "npm:rota"]],
      ["Deno", [join(BIN, "deno"), "run", "-A", "--unstable-net", "npm:rota"]],
    ] as const
  ) {
    test(
      `the README's WebSocket example (chat.ts) answers getConnInfo and a WebSocket on ${name} (${
        command.slice(1).join(" ")
      })`,
      async () => {
        const rota = await Rota.serve({ name, script: [], command }, "chat.ts", ["--workers", "1"], { cwd: project });
        await chatsWith(rota, rota.workerPids()[0]);
        assert.equal((await rota.stop()).code, 0);
      },
    );
  }

  test("Node 20 without esbuild refuses a TypeScript app with a one-line hint", async () => {
    rmSync(join(project, "node_modules", "esbuild"), { recursive: true, force: true });
    const check = await run(systemNode(), [join("node_modules", "rota", "dist", "main.js"), "check", "app.ts"], {
      cwd: project,
    });
    assert.equal(check.code, 1);
    assert.match(
      check.stderr.trim(),
      /^rota: Cannot import app module 'app\.ts': Node v20\.\S+ cannot run TypeScript by itself: install esbuild/,
    );
    assert.equal(check.stderr.trim().split("\n").length, 1);
  });
});
