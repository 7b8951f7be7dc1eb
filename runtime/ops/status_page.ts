/**
 * The live status page the admin listener serves at `/`: one self-contained
 * HTML document (inline CSS and script, nothing fetched from elsewhere) that
 * polls `status.json` (a `RotaSnapshot`) and draws each worker as a
 * row of its states over time, with recycles and init failures marked.
 *
 * The timeline is rebuilt from the snapshot's event ring, so a page opened
 * late still shows the last few minutes, and from the states the page saw
 * itself, so it also works when events are missing.
 *
 * @module
 */

/** Options for {@linkcode renderStatusPage}. */
export interface StatusPageOptions {
  /** Where the snapshot is, relative to the page. @default {"status.json"} */
  statusPath?: string;
  /** How often to poll, in milliseconds. @default {500} */
  pollMs?: number;
  /** The longest stretch of time the timeline shows, in milliseconds. @default {300000} */
  windowMs?: number;
}

const STYLE = `
:root { color-scheme: light dark; --bg:#fff; --fg:#1d232a; --muted:#667085; --line:#d0d5dd; --card:#f6f7f9;
  --starting:#3b82f6; --ready:#16a34a; --failing:#dc2626; --draining:#a855f7; }
@media (prefers-color-scheme: dark) { :root { --bg:#101418; --fg:#e6e9ee; --muted:#98a2b3; --line:#344054; --card:#1a2027; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
h1 { font-size: 18px; margin: 0 0 4px; }
.sub { color: var(--muted); margin-bottom: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; color: #fff; }
.badge.ready { background: var(--ready); } .badge.not-ready { background: var(--failing); } .badge.stopping { background: var(--draining); }
#banner { display: none; padding: 6px 10px; margin-bottom: 10px; border-radius: 6px; background: var(--failing); color: #fff; }
#banner.on { display: block; }
.counters { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 16px; }
.counter { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 6px 10px; min-width: 110px; }
.counter b { display: block; font-size: 18px; font-variant-numeric: tabular-nums; }
.counter span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin-bottom: 18px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.num, th.num { text-align: right; }
.state { font-weight: 600; }
.state.starting { color: var(--starting); } .state.ready { color: var(--ready); }
.state.failing { color: var(--failing); } .state.draining { color: var(--draining); } .state.exited { color: var(--muted); }
#timeline { position: relative; }
.lane { display: flex; align-items: center; height: 26px; }
.lane .name { width: 110px; flex: none; font-variant-numeric: tabular-nums; color: var(--muted); font-size: 12px; }
.lane .track { position: relative; flex: 1; height: 16px; background: var(--card); border-radius: 3px; }
.seg { position: absolute; top: 0; height: 16px; }
.seg.starting { background: var(--starting); opacity: .55; } .seg.ready { background: var(--ready); }
.seg.failing { background: repeating-linear-gradient(45deg, var(--failing) 0 4px, #f87171 4px 8px); }
.seg.draining { background: var(--draining); opacity: .75; }
.mark { position: absolute; top: -5px; width: 0; height: 26px; border-left: 2px solid var(--fg); }
.mark::after { position: absolute; top: -4px; left: -6px; font-size: 11px; line-height: 1; }
.mark.recycle::after { content: "\\21bb"; } .mark.init-failed { border-color: var(--failing); } .mark.init-failed::after { content: "\\2715"; color: var(--failing); }
.mark.crashed, .mark.killed { border-color: var(--failing); border-left-style: dashed; }
.axis { display: flex; justify-content: space-between; margin-left: 110px; color: var(--muted); font-size: 11px; }
.legend { display: flex; gap: 14px; color: var(--muted); font-size: 12px; margin: 6px 0 0 110px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
`;

// The script avoids template literals so that it can live inside this one.
const SCRIPT = `
"use strict";
var STATUS = __STATUS__, POLL = __POLL__, WINDOW = __WINDOW__;
var seen = {};       // worker key -> [{time, state}] observed by this page
var last = null;
var END_KINDS = { exited: 1, crashed: 1, killed: 1 };
var EVENT_STATE = { spawned: "starting", listening: null, ready: "ready", "init-failed": "failing", draining: "draining",
  exited: "exited", crashed: "exited", killed: "exited" };
function $(id) { return document.getElementById(id); }
function el(tag, attrs, text) {
  var node = document.createElement(tag);
  for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
  if (text !== undefined) node.textContent = String(text);
  return node;
}
function key(w) { return w.slot + "." + w.generation; }
function bytes(n) {
  if (n === undefined || n === null) return "-";
  var units = ["B", "KiB", "MiB", "GiB"], i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? n + " B" : n.toFixed(1) + " " + units[i];
}
function ago(ms) {
  var s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + "s"; if (s < 3600) return Math.floor(s / 60) + "m";
  if (s < 86400) return Math.floor(s / 3600) + "h"; return Math.floor(s / 86400) + "d";
}
function observe(snap) {
  snap.workers.forEach(function (w) {
    var list = seen[key(w)] || (seen[key(w)] = []);
    if (!list.length || list[list.length - 1].state !== w.state) list.push({ time: snap.time, state: w.state });
  });
}
function transitions(snap) {
  var byKey = {};
  function add(k, time, state) { (byKey[k] || (byKey[k] = [])).push({ time: time, state: state }); }
  (snap.events || []).forEach(function (e) {
    var state = EVENT_STATE[e.kind];
    if (state) add(e.slot + "." + e.generation, e.time, state);
  });
  for (var k in seen) seen[k].forEach(function (t) { add(k, t.time, t.state); });
  snap.workers.forEach(function (w) {
    if (!byKey[key(w)]) add(key(w), w.startedAt, "starting");
    if (w.readyAt && w.state !== "starting") add(key(w), w.readyAt, "ready");
  });
  for (var k2 in byKey) {
    var list = byKey[k2].sort(function (a, b) { return a.time - b.time; });
    byKey[k2] = list.filter(function (t, i) { return i === 0 || t.state !== list[i - 1].state; });
  }
  return byKey;
}
function renderHeader(snap) {
  document.title = "rota " + (snap.ready ? "ready" : "not ready") + " - " + snap.hostname + ":" + snap.port;
  $("title").textContent = "rota " + snap.version + " on " + snap.runtime;
  var badge = $("ready");
  var cls = snap.phase === "stopping" ? "stopping" : snap.ready ? "ready" : "not-ready";
  badge.className = "badge " + cls;
  badge.textContent = snap.phase === "stopping" ? "stopping" : snap.ready ? "ready" : "not ready";
  $("phase").textContent = snap.phase;
  $("where").textContent = "http://" + snap.hostname + ":" + snap.port + "  app " + snap.app + "  pid " + snap.pid +
    "  up " + ago(snap.time - snap.startedAt);
  var c = snap.counters;
  var recycles = 0; for (var r in c.recycles) recycles += c.recycles[r];
  var reasons = Object.keys(c.recycles).filter(function (r) { return c.recycles[r] > 0; }).map(function (r) { return r + " " + c.recycles[r]; }).join(", ");
  var items = [
    ["config-version", "config version", "v" + snap.configVersion],
    ["replacements", "replacements", c.replacements],
    ["recycles", "recycles" + (reasons ? " (" + reasons + ")" : ""), recycles],
    ["crashes", "crashes", c.crashes], ["restarts", "restarts", c.restarts],
    ["watchdog-kills", "watchdog kills", c.watchdogKills],
    ["init-ok", "init ok", c.initAttempts.ok], ["init-failed", "init failed", c.initAttempts.failed],
    ["no-worker-ready", "no worker ready", (c.noWorkerReadyMs / 1000).toFixed(1) + " s"],
  ];
  var box = $("counters"); box.textContent = "";
  items.forEach(function (it) {
    var div = el("div", { "class": "counter", id: "counter-" + it[0] });
    div.appendChild(el("b", {}, it[2])); div.appendChild(el("span", {}, it[1])); box.appendChild(div);
  });
}
function renderTable(snap) {
  var body = $("workers"); body.textContent = "";
  snap.workers.filter(function (w) { return w.state !== "exited"; })
    .sort(function (a, b) { return a.slot - b.slot || a.generation - b.generation; })
    .forEach(function (w) {
      var tr = el("tr", { "data-worker": key(w), "data-state": w.state, "data-pid": w.pid });
      tr.appendChild(el("td", {}, key(w)));
      tr.appendChild(el("td", { "class": "num" }, w.pid));
      tr.appendChild(el("td", { "class": "state " + w.state }, w.state));
      tr.appendChild(el("td", {}, w.role));
      tr.appendChild(el("td", { "class": "num" }, ago(snap.time - w.startedAt)));
      tr.appendChild(el("td", { "class": "num" }, w.requests));
      tr.appendChild(el("td", { "class": "num" }, w.inFlight));
      tr.appendChild(el("td", { "class": "num" }, bytes(w.rss)));
      tr.appendChild(el("td", { "class": "num" }, w.restarts));
      tr.appendChild(el("td", { "class": "num" }, w.initAttempts));
      body.appendChild(tr);
    });
  if (!body.children.length) body.appendChild(el("tr", {}, "no workers"));
}
function renderTimeline(snap) {
  var byKey = transitions(snap);
  var keys = Object.keys(byKey).sort(function (a, b) {
    var x = a.split("."), y = b.split(".");
    return (x[0] - y[0]) || (x[1] - y[1]);
  });
  var now = snap.time, earliest = now;
  keys.forEach(function (k) { earliest = Math.min(earliest, byKey[k][0].time); });
  var from = Math.max(now - WINDOW, Math.min(earliest, now - 30000));
  var span = Math.max(1, now - from);
  function x(t) { return Math.max(0, Math.min(100, (t - from) / span * 100)); }
  var box = $("timeline"); box.textContent = "";
  keys.forEach(function (k) {
    var list = byKey[k];
    var end = list[list.length - 1];
    if (end.state === "exited" && end.time < from) return;
    var lane = el("div", { "class": "lane", "data-worker": k });
    var current = snap.workers.filter(function (w) { return key(w) === k; })[0];
    lane.appendChild(el("div", { "class": "name" }, k + (current ? "  #" + current.pid : "")));
    var track = el("div", { "class": "track" });
    list.forEach(function (t, i) {
      if (t.state === "exited") return;
      var stop = i + 1 < list.length ? list[i + 1].time : now;
      if (stop < from) return;
      var seg = el("div", { "class": "seg " + t.state, "data-state": t.state,
        title: k + " " + t.state + " for " + ((stop - t.time) / 1000).toFixed(1) + " s" });
      seg.style.left = x(t.time) + "%";
      seg.style.width = Math.max(0.3, x(stop) - x(t.time)) + "%";
      track.appendChild(seg);
    });
    (snap.events || []).forEach(function (e) {
      if (e.slot + "." + e.generation !== k || e.time < from) return;
      if (e.kind !== "recycle" && e.kind !== "init-failed" && !END_KINDS[e.kind]) return;
      if (e.kind === "exited") return;
      var mark = el("div", { "class": "mark " + e.kind, "data-kind": e.kind,
        title: e.kind + (e.detail ? ": " + e.detail : "") + " at " + new Date(e.time).toISOString().slice(11, 19) });
      mark.style.left = x(e.time) + "%";
      track.appendChild(mark);
    });
    lane.appendChild(track);
    box.appendChild(lane);
  });
  $("axis-from").textContent = "-" + Math.round(span / 1000) + " s";
}
function render(snap) {
  observe(snap);
  renderHeader(snap);
  renderTable(snap);
  renderTimeline(snap);
  document.body.setAttribute("data-updated", String(snap.time));
}
function poll() {
  fetch(STATUS, { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (snap) {
    last = snap; $("banner").className = ""; render(snap);
  }).catch(function (error) {
    var banner = $("banner"); banner.className = "on";
    banner.textContent = "cannot reach rota (" + error.message + "); retrying" + (last ? ", showing the last state" : "");
  }).then(function () { setTimeout(poll, POLL); });
}
poll();
`;

/**
 * The status page.
 *
 * @param options Where the snapshot is and how often to look.
 * @returns A complete HTML document.
 * @example
 * ```ts
 * new Response(renderStatusPage(), { headers: { "content-type": "text/html; charset=utf-8" } });
 * ```
 */
export function renderStatusPage(options: StatusPageOptions = {}): string {
  const { statusPath = "status.json", pollMs = 500, windowMs = 300_000 } = options;
  const script = SCRIPT
    .replace("__STATUS__", JSON.stringify(statusPath).replace(/</g, "\\u003c"))
    .replace("__POLL__", String(Math.max(50, Math.floor(pollMs))))
    .replace("__WINDOW__", String(Math.max(1000, Math.floor(windowMs))));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rota</title>
<style>${STYLE}</style>
</head>
<body>
<div id="banner" role="alert"></div>
<h1><span id="title">rota</span> <span id="ready" class="badge">…</span></h1>
<div class="sub"><span id="where"></span> · phase <span id="phase">…</span></div>
<div id="counters" class="counters"></div>
<table>
<thead><tr><th>worker</th><th class="num">pid</th><th>state</th><th>role</th><th class="num">uptime</th><th class="num">requests</th><th class="num">in flight</th><th class="num">memory</th><th class="num">restarts</th><th class="num">init</th></tr></thead>
<tbody id="workers"></tbody>
</table>
<div id="timeline"></div>
<div class="axis"><span id="axis-from"></span><span>now</span></div>
<div class="legend"><span><i style="background:var(--starting)"></i>starting</span><span><i style="background:var(--ready)"></i>ready</span><span><i style="background:var(--failing)"></i>failing init</span><span><i style="background:var(--draining)"></i>draining</span><span>&#x21bb; recycle</span><span>&#x2715; init failed</span></div>
<script>${escapeScript(script)}</script>
</body>
</html>
`;
}

/** `</script` inside the script would end it early. */
function escapeScript(script: string): string {
  return script.replace(/<\/script/gi, "<\\/script");
}
