import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes, formatStatusTable, formatUptime } from "../../runtime/ops/status_table.ts";
import { snapshot, worker } from "../_snapshot.ts";

test("formatStatusTable() prints a summary and one aligned row per live worker", () => {
  const text = formatStatusTable(snapshot({
    workers: [
      worker({ slot: 1, generation: 0, pid: 1002, state: "failing", requests: 7, initAttempts: 3, restarts: 1 }),
      worker({ slot: 0, generation: 2, pid: 1001, requests: 1234, inFlight: 2, rss: 52_428_800 }),
      worker({ slot: 0, generation: 1, pid: 900, state: "exited" }),
    ],
  }));
  assert.equal(
    text,
    [
      "rota 0.1.0 on node, pid 999, http://127.0.0.1:8000, up 2m, ready, config v4, 1 crash, 2 replaced",
      "worker   pid  state    role    uptime  requests  in flight    memory  restarts  init",
      "0.2     1001  ready    active      1m      1234          2  50.0 MiB         0     1",
      "1.0     1002  failing  active      1m         7          0         -         1     3",
      "",
    ].join("\n"),
  );
});

test("formatStatusTable() says when rota is stopping or has no worker", () => {
  const text = formatStatusTable(snapshot({ phase: "stopping", ready: false, workers: [] }));
  assert.match(text, /, stopping, /);
  assert.match(text, /\(no workers\)\n$/);
  assert.match(formatStatusTable(snapshot({ ready: false })), /, not ready, /);
});

test("formatUptime() and formatBytes() pick the largest whole unit", () => {
  assert.deepEqual([0, 59_999, 60_000, 3_599_999, 3_600_000, 86_400_000 * 3, -5].map(formatUptime), [
    "0s",
    "59s",
    "1m",
    "59m",
    "1h",
    "3d",
    "0s",
  ]);
  assert.deepEqual([undefined, 512, 2048, 1_610_612_736].map(formatBytes), ["-", "512 B", "2.0 KiB", "1.5 GiB"]);
});
