import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ensureConnectionMigration, migrationWarnings } from "../../adapters/_linux/connection_migration.ts";

const files = { read: (path: string) => readFileSync(path, "utf8"), write: writeFileSync };

test("ensureConnectionMigration() turns tcp_migrate_req on, and says when it cannot read or set it", () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-sysctl-"));
  const on = join(dir, "on");
  writeFileSync(on, "1\n");
  assert.equal(ensureConnectionMigration(files, on), "on");

  const off = join(dir, "off");
  writeFileSync(off, "0\n");
  assert.equal(ensureConnectionMigration(files, off), "on");
  assert.equal(readFileSync(off, "utf8"), "1", "it was set");

  // /proc/version reads as something other than 1 and cannot be written, even by root.
  assert.equal(ensureConnectionMigration(files, "/proc/version"), "unsettable");
  assert.equal(ensureConnectionMigration(files, join(dir, "missing")), "unreadable");
});

test("migrationWarnings() is silent when the sysctl is on, and says what to run otherwise", () => {
  assert.deepEqual(migrationWarnings("on"), []);
  const [unsettable] = migrationWarnings("unsettable");
  assert.match(
    unsettable,
    /tcp_migrate_req is not 1 and rota cannot set it[^\n]*sysctl -w net\.ipv4\.tcp_migrate_req=1/,
  );
  assert.match(migrationWarnings("unreadable")[0], /tcp_migrate_req cannot be read/);
});
