import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ensureConnectionMigration } from "../../adapters/_node/connection_migration.ts";

test("ensureConnectionMigration() turns tcp_migrate_req on, and warns when it cannot read or set it", () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-sysctl-"));
  const on = join(dir, "on");
  writeFileSync(on, "1\n");
  assert.deepEqual(ensureConnectionMigration(on), []);

  const off = join(dir, "off");
  writeFileSync(off, "0\n");
  assert.deepEqual(ensureConnectionMigration(off), []);
  assert.equal(readFileSync(off, "utf8"), "1", "it was set");

  // /proc/version reads as something other than 1 and cannot be written, even by root.
  const [unsettable] = ensureConnectionMigration("/proc/version");
  assert.match(
    unsettable,
    /tcp_migrate_req is not 1 and rota cannot set it[^\n]*sysctl -w net\.ipv4\.tcp_migrate_req=1/,
  );

  const [unreadable] = ensureConnectionMigration(join(dir, "missing"));
  assert.match(unreadable, /cannot read net\.ipv4\.tcp_migrate_req/);
});
