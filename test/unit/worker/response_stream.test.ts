import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../runtime/log.ts";
import { StreamGuards } from "../../../runtime/worker/response_stream.ts";

function failing(): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream({
    pull(controller) {
      if (n++ < 1) controller.enqueue(new TextEncoder().encode("chunk\n"));
      else controller.error(new Error("the stream broke\nsecond line"));
    },
  });
}

function installed() {
  const lines: string[] = [];
  const guards = new StreamGuards(createLogger({ name: "w", format: "pretty", write: (line) => lines.push(line) }));
  const original = globalThis.Response;
  const uninstall = guards.install();
  return { lines, guards, original, uninstall };
}

test("StreamGuards logs a bound body that fails as one line and cuts its connection", async () => {
  const { lines, guards, original, uninstall } = installed();
  try {
    const response = new Response(failing());
    let cut = 0;
    guards.bind(response, new Request("http://x/feed?token=secret"), { cut: () => (cut++, true) });
    const reader = response.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "chunk\n");
    const next = reader.read();
    // Once cut, the body neither ends nor errors: the runtime cancels it when it sees the socket close.
    const outcome = await Promise.race([next.then(() => "settled"), new Promise((r) => setTimeout(r, 50, "pending"))]);
    assert.equal(outcome, "pending");
    assert.equal(cut, 1);
    await reader.cancel();
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      /ERROR rota\[w\] response stream failed: the stream broke \(method=GET path=\/feed stack="/,
    );
  } finally {
    uninstall();
  }
  assert.equal(globalThis.Response, original, "the teardown puts the Response back");
});

test("StreamGuards ends a bound body with no reason where the runtime cannot cut the connection", async () => {
  const { guards, uninstall } = installed();
  try {
    const response = new Response(failing());
    guards.bind(response, new Request("http://x/"), { cut: () => false });
    const reader = response.body!.getReader();
    await reader.read();
    await assert.rejects(reader.read(), (reason) => reason === undefined);
  } finally {
    uninstall();
  }
});

test("StreamGuards leaves unbound bodies, other bodies and instanceof as they were", async () => {
  const { lines, original, uninstall } = installed();
  try {
    const unbound = new Response(failing());
    const reader = unbound.body!.getReader();
    await reader.read();
    await assert.rejects(reader.read(), /the stream broke/);
    assert.deepEqual(lines, [], "a stream the app reads itself fails as it would have");
    assert.equal(await new Response("text").text(), "text");
    assert.equal(Response.json({ a: 1 }).status, 200);
    assert.ok(new original("x") instanceof Response, "a Response built elsewhere is still a Response");
    assert.ok(!({ status: 200, headers: {} } instanceof Response));
  } finally {
    uninstall();
  }
});
