/**
 * Programs the tests need from Debian's packages, installed with apt-get the
 * first time a test needs them (the machine's user is root; elsewhere the
 * error says what to install).
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";

/**
 * Make sure `binary` exists, installing Debian's `pkg` when it does not.
 *
 * @param binary Absolute path of the program.
 * @param pkg The Debian package that provides it.
 * @returns `binary`.
 * @throws {Error} With the command to run, when it cannot install it.
 */
export function ensureDebianPackage(binary: string, pkg: string): string {
  if (existsSync(binary)) return binary;
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    throw new Error(`${binary} is missing: install Debian's ${pkg} package (apt-get install -y ${pkg})`);
  }
  console.log(`# installing Debian's ${pkg} package for ${binary} (once per machine)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) =>
    spawnSync("apt-get", args, { env, stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
  let install = run(["install", "-y", "-qq", pkg]);
  if (install.status !== 0) {
    run(["update", "-qq"]);
    install = run(["install", "-y", "-qq", pkg]);
  }
  if (install.status !== 0 || !existsSync(binary)) {
    throw new Error(`apt-get install ${pkg} failed: ${String(install.stderr).trim().split("\n").pop()}`);
  }
  return binary;
}
