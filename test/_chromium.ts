/**
 * Headless Chromium for the status page tests: Debian's `chromium` package,
 * installed the first time a test needs it, driven by
 * playwright-core, which downloads no browser of its own.
 */

import { type Browser, chromium } from "playwright-core";
import { ensureDebianPackage } from "./_apt.ts";

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
 * Make sure `/usr/bin/chromium` exists (Debian's package, installed when missing).
 *
 * @returns Its path.
 */
export function ensureChromium(): string {
  return ensureDebianPackage(CHROMIUM, "chromium");
}

/** Launch headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromium(), args: ARGS, timeout: 60_000 });
}
