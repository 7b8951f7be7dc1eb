/**
 * The live status page in headless Chromium: first against a test server
 * that serves it and a scripted recycle (worker 0.0 ready → 0.1 starting →
 * 0.1 ready → 0.0 draining → 0.0 exited, beside a slot whose init keeps
 * failing), then against a real rota on each runtime during a rolling reload.
 */

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { RotaEvent, RotaSnapshot, WorkerSnapshot } from "../../runtime/ops/snapshot.ts";
import { renderStatusPage } from "../../runtime/ops/status_page.ts";
import { launchChromium } from "../_chromium.ts";
import { killLeftovers, ROOT, Rota, TARGETS } from "../_harness.ts";
import { snapshot, worker } from "../_snapshot.ts";

const OUTPUT = join(ROOT, "test", "output");
const T = Date.UTC(2026, 10, 25, 12, 0, 0);
const s = (seconds: number) => T + seconds * 1000;

const events: RotaEvent[] = [
  { time: s(0), slot: 0, generation: 0, pid: 101, kind: "spawned" },
  { time: s(0), slot: 1, generation: 0, pid: 201, kind: "spawned" },
  { time: s(2), slot: 0, generation: 0, pid: 101, kind: "ready" },
  { time: s(3), slot: 1, generation: 0, pid: 201, kind: "init-failed", detail: "ECONNREFUSED" },
];

function at(
  seconds: number,
  workers: WorkerSnapshot[],
  more: RotaEvent[],
  counters: Partial<RotaSnapshot["counters"]> = {},
): RotaSnapshot {
  events.push(...more);
  const base = snapshot();
  return snapshot({
    time: s(seconds),
    startedAt: s(0),
    workers,
    events: [...events],
    configVersion: 3,
    counters: { ...base.counters, replacements: 0, crashes: 0, restarts: 0, recycles: {}, ...counters },
  });
}

const old = (state: WorkerSnapshot["state"], role: WorkerSnapshot["role"] = "active") =>
  worker({ slot: 0, generation: 0, pid: 101, state, role, startedAt: s(0), readyAt: s(2), requests: 500 });
const fresh = (state: WorkerSnapshot["state"], role: WorkerSnapshot["role"] = "incoming") =>
  worker({
    slot: 0,
    generation: 1,
    pid: 102,
    state,
    role,
    startedAt: s(20),
    readyAt: state === "ready" ? s(23) : undefined,
  });
const failing = () =>
  worker({ slot: 1, generation: 0, pid: 201, state: "failing", startedAt: s(0), readyAt: undefined, initAttempts: 4 });

let server: Server;
let browser: Browser;
let page: Page;
let current: RotaSnapshot | undefined;
let url: string;

before(async () => {
  server = createServer((request, response) => {
    if (request.url === "/") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(renderStatusPage({ pollMs: 100 }));
    } else if (request.url === "/status.json" && current) {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(current));
    } else {
      response.writeHead(503).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 560 } });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await killLeftovers();
});

/** Serve `next` and wait until the page has drawn it. */
async function show(next: RotaSnapshot): Promise<void> {
  current = next;
  await page.waitForSelector(`body[data-updated="${next.time}"]`, { timeout: 10_000 });
}

const laneStates = (name: string) =>
  page.$$eval(`.lane[data-worker="${name}"] .seg`, (segs) => segs.map((seg) => seg.getAttribute("data-state")));
const rows = () =>
  page.$$eval("#workers tr[data-worker]", (trs) => trs.map((tr) => `${tr.dataset.worker} ${tr.dataset.state}`));
const counter = (name: string) => page.textContent(`#counter-${name} b`);

test("the status page shows a recycle as it happens, with the timeline, marks, config version and counters", {
  timeout: 900_000,
}, async () => {
  await page.goto(url);
  await show(at(10, [old("ready"), failing()], []));
  assert.deepEqual(await rows(), ["0.0 ready", "1.0 failing"]);
  assert.equal(await counter("config-version"), "v3");
  assert.equal(await page.textContent("#ready"), "ready");
  assert.equal(await page.$$eval('.lane[data-worker="1.0"] .mark[data-kind="init-failed"]', (m) => m.length), 1);
  assert.deepEqual(await laneStates("1.0"), ["starting", "failing"]);

  await show(at(20, [old("ready"), fresh("starting"), failing()], [
    { time: s(20), slot: 0, generation: 0, pid: 101, kind: "recycle", detail: "max-requests" },
    { time: s(20), slot: 0, generation: 1, pid: 102, kind: "spawned" },
  ], { recycles: { "max-requests": 1 } }));
  assert.deepEqual(await rows(), ["0.0 ready", "0.1 starting", "1.0 failing"]);
  assert.equal(await page.$$eval('.lane[data-worker="0.0"] .mark[data-kind="recycle"]', (m) => m.length), 1);
  assert.match(String(await page.getAttribute('.lane[data-worker="0.0"] .mark', "title")), /recycle: max-requests/);
  assert.match(String(await page.textContent("#counter-recycles")), /recycles \(max-requests 1\)/);

  await show(at(24, [old("ready"), fresh("ready", "active"), failing()], [
    { time: s(23), slot: 0, generation: 1, pid: 102, kind: "ready" },
  ], { recycles: { "max-requests": 1 }, replacements: 1 }));
  assert.deepEqual(await rows(), ["0.0 ready", "0.1 ready", "1.0 failing"]);
  assert.equal(await counter("replacements"), "1");

  await show(at(25, [old("draining", "retired"), fresh("ready", "active"), failing()], [
    { time: s(24), slot: 0, generation: 0, pid: 101, kind: "draining" },
  ], { recycles: { "max-requests": 1 }, replacements: 1 }));
  assert.deepEqual(await rows(), ["0.0 draining", "0.1 ready", "1.0 failing"]);
  assert.deepEqual(await laneStates("0.0"), ["starting", "ready", "draining"]);

  await show(at(32, [fresh("ready", "active"), failing()], [
    { time: s(26), slot: 0, generation: 0, pid: 101, kind: "exited" },
  ], { recycles: { "max-requests": 1 }, replacements: 1 }));
  assert.deepEqual(await rows(), ["0.1 ready", "1.0 failing"], "the exited worker left the table");
  assert.deepEqual(await laneStates("0.0"), ["starting", "ready", "draining"], "its lane keeps its history");
  assert.deepEqual(await laneStates("0.1"), ["starting", "ready"]);
  const lanes = await page.$$eval(".lane", (all) => all.map((lane) => lane.getAttribute("data-worker")));
  assert.deepEqual(lanes, ["0.0", "0.1", "1.0"]);

  mkdirSync(OUTPUT, { recursive: true });
  const shot = join(OUTPUT, "status_page_recycle.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`# status page screenshot: ${shot}`);

  current = undefined;
  await page.waitForSelector("#banner.on", { timeout: 10_000 });
  assert.match(
    String(await page.textContent("#banner")),
    /cannot reach rota \(HTTP 503\); retrying, showing the last state/,
  );
  assert.deepEqual(await rows(), ["0.1 ready", "1.0 failing"], "the last state stays on screen");
});

test("renderStatusPage() is one self-contained document that loads nothing from elsewhere", () => {
  const html = renderStatusPage();
  assert.match(html, /^<!doctype html>/);
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i);
  assert.doesNotMatch(html, /https?:\/\/(?!" \+)/, "no absolute URL");
  assert.equal((html.match(/<\/script>/g) ?? []).length, 1);
  assert.match(renderStatusPage({ statusPath: "x</script>.json" }), /"x\\u003c\/script>\.json"/);
});

for (const key of Object.keys(TARGETS)) {
  const target = TARGETS[key]();
  test(`the status page of a real rota on ${target.name} shows a rolling reload as it happens`, {
    timeout: 120_000,
  }, async () => {
    // Each init takes 1.5 s, so the page (polling every 500 ms) sees every replacement starting.
    const rota = await Rota.serve(target, "slow_flaky.js", ["--workers", "2", "--admin", "127.0.0.1:0"], {
      env: { ROTA_TEST_FAIL_TIMES: "0", ROTA_TEST_INIT_MS: "1500" },
    });
    const admin = (await rota.waitForLog(/admin listening on (http:\/\/[^/ ]+)\//))[1];
    const live = await browser.newPage({ viewport: { width: 1100, height: 520 } });
    try {
      const shown = () =>
        live.$$eval("#workers tr[data-worker]", (trs) => trs.map((tr) => `${tr.dataset.worker} ${tr.dataset.state}`));
      const until = async (what: string, predicate: (rows: string[]) => boolean) => {
        const deadline = Date.now() + 30_000;
        let rows: string[] = [];
        while (Date.now() < deadline) {
          rows = await shown();
          if (predicate(rows)) return rows;
          await live.waitForTimeout(100);
        }
        assert.fail(`the page never showed ${what}; it shows ${JSON.stringify(rows)}; rota's log:\n${rota.log}`);
      };
      await live.goto(`${admin}/`);
      await until("both workers ready", (rows) => rows.join() === "0.0 ready,1.0 ready");
      assert.equal(await live.textContent("#ready"), "ready");
      const { configVersion } = await (await fetch(`${admin}/status.json`)).json() as { configVersion: number };
      assert.equal(await live.textContent("#counter-config-version b"), `v${configVersion}`);
      assert.match(
        String(await live.textContent("#title")),
        new RegExp(`on ${key.split("-")[0]}$`),
      );

      rota.signal("SIGHUP");
      const during = await until(
        "slot 0's replacement starting beside the worker it replaces",
        (rows) => rows.includes("0.0 ready") && rows.includes("0.1 starting"),
      );
      assert.ok(during.includes("1.0 ready"), "the other slot serves meanwhile");
      assert.equal(await live.textContent('#workers tr[data-worker="0.1"] td:nth-child(4)'), "incoming");
      mkdirSync(OUTPUT, { recursive: true });
      const duringShot = join(OUTPUT, `status_page_reloading_${key}.png`);
      await live.screenshot({ path: duringShot, fullPage: true });
      console.log(`# status page screenshot (${target.name}, real rota during a rolling reload): ${duringShot}`);
      await until("both replacements ready and the old workers gone", (rows) => rows.join() === "0.1 ready,1.1 ready");
      await live.waitForFunction(() => document.querySelector("#counter-replacements b")?.textContent === "2");
      const lane = (name: string) =>
        live.$$eval(`.lane[data-worker="${name}"] .seg`, (segs) => segs.map((seg) => seg.getAttribute("data-state")));
      assert.deepEqual(await lane("0.0"), ["starting", "ready", "draining"], "the old worker's lane keeps its life");
      assert.deepEqual(await lane("0.1"), ["starting", "ready"]);
      const marks = await live.$$eval(
        '.lane[data-worker="0.0"] .mark[data-kind="recycle"]',
        (m) => m.map((mark) => mark.getAttribute("title")),
      );
      assert.equal(marks.length, 1);
      assert.match(String(marks[0]), /^recycle: reload at /);
      assert.match(String(await live.textContent("#counter-recycles")), /recycles \(reload 2\)/);
      const shot = join(OUTPUT, `status_page_reloaded_${key}.png`);
      await live.screenshot({ path: shot, fullPage: true });
      console.log(`# status page screenshot (${target.name}, real rota after a rolling reload): ${shot}`);
    } finally {
      await live.close();
    }
    assert.equal((await rota.stop()).code, 0);
  });
}
