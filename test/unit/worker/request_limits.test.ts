import assert from "node:assert/strict";
import { test } from "node:test";
import { CUT_AFTER_MS, LINGER_MS, RequestLimits } from "../../../runtime/worker/request_limits.ts";
import { FakeClock, flush } from "../../_fake_clock.ts";

function limits(options: { requestTimeout?: number; maxBody?: number } = {}) {
  const clock = new FakeClock();
  const warned: string[] = [];
  const limits = new RequestLimits({
    requestTimeout: options.requestTimeout ?? 0,
    maxBody: options.maxBody ?? 0,
    clock,
    warn: (kind, message) => warned.push(`${kind}: ${message}`),
  });
  return { clock, warned, limits };
}

function chunked(chunks: number, size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ < chunks) controller.enqueue(new Uint8Array(size));
      else controller.close();
    },
  });
}

function post(body: BodyInit, headers: Record<string, string> = {}): Request {
  return new Request("http://x/upload?key=secret", { method: "POST", body, headers, duplex: "half" } as RequestInit);
}

test("RequestLimits.refuse() answers 413 with Connection: close for a declared body above --max-body", async () => {
  const { warned, limits: l } = limits({ maxBody: 1000 });
  const refused = l.refuse(new Request("http://x/upload", { method: "POST", headers: { "content-length": "5000" } }));
  assert.equal(refused?.status, 413);
  assert.equal(refused?.headers.get("connection"), "close");
  assert.deepEqual(await refused?.json(), { error: "payload too large" });
  assert.deepEqual(warned, ["max-body: request body of 5000 bytes is above --max-body 1000: POST /upload"]);
  assert.equal(l.refuse(post("x".repeat(1000))), undefined, "at the limit is allowed");
  assert.equal(
    l.refuse(new Request("http://x/", { headers: { "content-length": "5000" } })),
    undefined,
    "GET has no body",
  );
  assert.equal(limits({ maxBody: 0 }).limits.refuse(post("x".repeat(5000))), undefined, "0 is no limit");
});

test("RequestLimits leaves a request alone when no limit applies to it: nothing is copied", () => {
  const { limits: l } = limits({ maxBody: 1000 });
  assert.equal(l.guard(new Request("http://x/")), undefined);
  assert.equal(
    l.guard(post("x".repeat(10), { "content-length": "10" })),
    undefined,
    "a declared length is framed by the runtime",
  );
});

test("RequestLimits stops a streamed body that passes --max-body and answers 413 if the app has not answered", async () => {
  const { warned, limits: l } = limits({ maxBody: 1000 });
  const guarded = l.guard(post(chunked(5, 400)))!;
  assert.ok(guarded);
  let appSaw = "";
  const app = guarded.request.text().then(
    () => new Response("read it all"),
    (error) => {
      appSaw = error.code;
      return new Response("app gave up", { status: 400 });
    },
  );
  const { response, limit } = await guarded.settle(app);
  assert.deepEqual([response.status, limit], [413, "max-body"]);
  await app;
  assert.equal(appSaw, "ERR_ROTA_BODY_TOO_LARGE");
  assert.deepEqual(warned, ["max-body: request body passed --max-body 1000 while streaming: POST /upload"]);

  const small = l.guard(post(chunked(2, 400)))!;
  const read = await small.settle(small.request.text().then((text) => new Response(String(text.length))));
  assert.deepEqual([await read.response.text(), read.limit], ["800", undefined]);
});

test("RequestLimits reads and throws away the rest of a chunked body before its 413, so that no reset loses it", async () => {
  const { warned, limits: l } = limits({ maxBody: 1000 });
  let pulled = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled++ < 50) controller.enqueue(new Uint8Array(400));
      else controller.close();
    },
  });
  const guarded = l.guard(post(source))!;
  let appSaw = "";
  const app = guarded.request.text().then(
    () => new Response("read it all"),
    (error) => {
      appSaw = error.code;
      return new Response("app gave up", { status: 400 });
    },
  );
  const { response } = await guarded.settle(app);
  assert.equal(appSaw, "ERR_ROTA_BODY_TOO_LARGE", "the app's read failed at the limit");
  assert.equal(response.status, 413, "rota's answer, not the app's 400 that came first");
  assert.equal(pulled, 51, "every chunk the client sent was read before the answer");
  assert.equal(warned.length, 1);
});

test("RequestLimits answers 413 at LINGER_MS to a chunked body still coming, and cuts it CUT_AFTER_MS later", async () => {
  const { clock, limits: l } = limits({ maxBody: 1000 });
  let cancelled: unknown = "no";
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull: (controller) => {
      pulled++;
      controller.enqueue(new Uint8Array(400));
      // A slow client: from the fourth chunk, one every 100 ms of the fake clock.
      return pulled > 3 ? new Promise<void>((resolve) => clock.setTimeout(resolve, 100)) : undefined;
    },
    cancel: (reason) => void (cancelled = reason),
  });
  const guarded = l.guard(post(endless))!;
  let got: Response | undefined;
  void guarded.settle(
    guarded.request.text().then(() => new Response("read it all"), () => new Response("gave up", { status: 400 })),
  ).then(({ response }) => (got = response));
  // A function, so that the checks below are not narrowed by the one before the deadline.
  const answer = () => got;
  await clock.advance(LINGER_MS - 100);
  assert.equal(answer(), undefined, "still reading the rest");
  assert.equal(cancelled, "no");
  assert.ok(pulled > 10, `read on meanwhile (${pulled} chunks)`);
  await clock.advance(100);
  assert.equal(answer()?.status, 413, "answered at LINGER_MS");
  assert.equal(answer()?.headers.get("connection"), "close");
  assert.equal(cancelled, "no", "the body is not cancelled under the answer being written");
  await clock.advance(CUT_AFTER_MS);
  assert.notEqual(cancelled, "no", "cancelled CUT_AFTER_MS later");
});

test("RequestLimits answers 504 at --request-timeout, aborts the request's signal and drops the late answer", async () => {
  const { clock, warned, limits: l } = limits({ requestTimeout: 1000 });
  const guarded = l.guard(new Request("http://x/slow?x=1"))!;
  let late: (response: Response) => void = () => {};
  const app = new Promise<Response>((resolve) => (late = resolve));
  let got: Response | undefined;
  let limit: string | undefined;
  void guarded.settle(app).then((settled) => ({ response: got, limit } = settled));
  // A function, so that the checks below are not narrowed by the one before the timeout.
  const answer = () => got;
  await clock.advance(999);
  assert.equal(answer(), undefined);
  assert.equal(guarded.request.signal.aborted, false);
  await clock.advance(1);
  assert.deepEqual([answer()?.status, limit], [504, "request-timeout"]);
  assert.deepEqual(await answer()?.json(), { error: "gateway timeout" });
  assert.equal(guarded.request.signal.aborted, true);
  assert.equal((guarded.request.signal.reason as DOMException).name, "TimeoutError");
  assert.deepEqual(warned, ["request-timeout: request timed out after 1000ms: GET /slow"]);
  let cancelled = false;
  late(new Response(new ReadableStream({ cancel: () => void (cancelled = true) })));
  await flush();
  assert.ok(cancelled, "the app's late body is released");
});

test("RequestLimits passes an answer that comes in time, and clears its timer", async () => {
  const { clock, limits: l } = limits({ requestTimeout: 1000 });
  const guarded = l.guard(new Request("http://x/"))!;
  const { response } = await guarded.settle(Promise.resolve(new Response("on time")));
  assert.equal(await response.text(), "on time");
  assert.equal(clock.pending, 0);
});

test("RequestLimits copies a request without reading its signal where the adapter asks (watchSignal false)", async () => {
  const { clock, limits: l } = limits({ requestTimeout: 1000, maxBody: 1000 });
  const unread = (request: Request) =>
    Object.defineProperty(request, "signal", { get: () => assert.fail("request.signal was read") });
  // A declared length: the body is handed on as it is; a chunked one: counted against --max-body.
  for (const request of [post("declared", { "content-length": "8", "x-kept": "yes" }), post(chunked(2, 3))]) {
    const guarded = l.guard(unread(request), false)!;
    const copy = guarded.request;
    assert.deepEqual([copy.method, copy.url], ["POST", "http://x/upload?key=secret"]);
    assert.equal(copy.headers.get("x-kept"), request.headers.get("x-kept"));
    assert.equal((await copy.arrayBuffer()).byteLength, request.headers.has("content-length") ? 8 : 6);
    void guarded.settle(new Promise(() => {}));
    assert.equal(copy.signal.aborted, false);
    await clock.advance(1000);
    assert.equal(copy.signal.aborted, true, "rota's own signal: --request-timeout");
  }
});
