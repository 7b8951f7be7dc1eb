/**
 * Headless Chromium for the status page tests: Debian's `chromium` package,
 * installed with apt-get the first time a test needs it (the machine's user
 * is root; elsewhere the error says what to install), driven by
 * playwright-core, which downloads no browser of its own.
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { type Browser, chromium } from "playwright-core";

/** Where Debian puts it. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags for a quiet, sandbox-free headless run in a container. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * Make sure `/usr/bin/chromium` exists, installing Debian's package when it
 * does not and this process may (root with apt-get).
 *
 * @throws {Error} With the command to run, when it cannot install it.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const root = process.getuid?.() === 0;
  if (!root || !existsSync("/usr/bin/apt-get")) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
  }
  console.log(`# installing Debian's chromium package for the status page test (once per machine)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) =>
    spawnSync("apt-get", args, { env, stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
  let install = run(["install", "-y", "-qq", "chromium"]);
  if (install.status !== 0) {
    run(["update", "-qq"]);
    install = run(["install", "-y", "-qq", "chromium"]);
  }
  if (install.status !== 0 || !existsSync(CHROMIUM)) {
    throw new Error(`apt-get install chromium failed: ${String(install.stderr).trim().split("\n").pop()}`);
  }
  return CHROMIUM;
}

/** Launch headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromium(), args: ARGS, timeout: 60_000 });
}
