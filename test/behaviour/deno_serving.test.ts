/**
 * Deno's two ways of serving: `Deno.serve` on a socket per worker when Deno
 * runs with `--unstable-net` (and may use FFI, and `tcp_migrate_req` is 1),
 * else `node:http` on the supervisor's socket. The full suites run the first
 * (`deno.test.ts`); the core suite runs the second here too.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { join } from "node:path";
import { get, killLeftovers, ROOT, Rota, type Target, TARGETS } from "../_harness.ts";
import { behaviourSuite } from "./suite.ts";

behaviourSuite("deno-node-http");

describe("how Deno workers serve", { timeout: 120_000 }, () => {
  after(killLeftovers);

  async function serving(target: Target): Promise<{ rota: Rota; answer: Record<string, unknown> }> {
    const rota = await Rota.serve(target, "serving.js", ["--workers", "2"]);
    const answer = JSON.parse((await get(rota.url)).body);
    return { rota, answer };
  }

  test("with --unstable-net and -A, on Deno.serve: env has remoteAddr and no node:http request", async () => {
    const { rota, answer } = await serving(TARGETS["deno"]());
    assert.deepEqual({ incoming: answer.incoming, remoteAddr: answer.remoteAddr }, {
      incoming: false,
      remoteAddr: true,
    });
    assert.doesNotMatch(rota.log, /node:http/);
    assert.equal((await rota.stop()).code, 0);
  });

  test("without --unstable-net, through node:http on the supervisor's socket, and nothing is said", async () => {
    const { rota, answer } = await serving(TARGETS["deno-node-http"]());
    assert.deepEqual({ incoming: answer.incoming, remoteAddr: answer.remoteAddr }, {
      incoming: true,
      remoteAddr: true,
    });
    assert.doesNotMatch(rota.log, /node:http/);
    assert.equal((await rota.stop()).code, 0);
  });

  test("with --unstable-net but no --allow-ffi, through node:http, and one line says why", async () => {
    const deno = TARGETS["deno"]().command[0];
    const target: Target = {
      ...TARGETS["deno"](),
      command: [
        deno,
        "run",
        "--unstable-net",
        "--allow-read",
        "--allow-env",
        "--allow-net",
        "--allow-run",
        "--allow-sys",
        join(ROOT, "main.ts"),
      ],
    };
    const { rota, answer } = await serving(target);
    assert.equal(answer.incoming, true);
    assert.match(rota.log, /Deno workers serve through node:http, not Deno\.serve, as Deno lacks --allow-ffi/);
    assert.equal((await rota.stop()).code, 0);
  });
});
