/**
 * Where a JavaScript syntax error is, on Node: `import()` rejects with a bare
 * `SyntaxError` whose file and line Node keeps to itself, and prints only when
 * the error is fatal. So rota lets it be fatal elsewhere: a short-lived child
 * imports the same module and rota reads the `file:line` header it prints.
 * Parsing fails before any module of the graph runs, so the child runs none
 * of the app's code (unless the error sits behind a dynamic import). Only on
 * this failure path; used by the Node adapter only.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";

const TIMEOUT_MS = 5000;

/** The header line of Node's report of a fatal syntax error: `file:///srv/app.js:3`. */
const HEADER = /^((?:file:\/\/|\/)\S*:\d+)$/m;

/**
 * Find the `file:line` of the syntax error that importing `url` hits.
 *
 * @param url The module whose import failed with a syntax error.
 * @returns `file:line`, or `undefined` when the child does not say within 5 s.
 */
export function locateSyntaxError(url: URL): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--input-type=module", "--eval", "await import(process.argv[1])", url.href],
      { stdio: ["ignore", "ignore", "pipe"], timeout: TIMEOUT_MS },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.once("error", () => resolve(undefined));
    child.once("close", () => resolve(HEADER.exec(stderr)?.[1]));
  });
}
