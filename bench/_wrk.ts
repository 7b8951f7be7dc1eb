/** Running wrk (installing it from Debian's packages when missing) and reading its report. */

import { execFileSync, spawn } from "node:child_process";

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Make sure `wrk` is on PATH: install it with apt-get when it is not (this machine's CI runs as root). */
export function ensureWrk(): void {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
    return;
  } catch (error) {
    // wrk --version exits 1 after printing its version.
    if ((error as { status?: number }).status === 1) return;
  }
  console.error("wrk is missing: installing it from Debian's packages");
  execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", 2, 2] });
  execFileSync("apt-get", ["install", "-y", "-qq", "wrk"], { stdio: ["ignore", 2, 2] });
}

function ms(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60000 }[match[2] as "us" | "ms" | "s" | "m"];
  return Number(match[1]) * scale;
}

/** Parse wrk's `--latency` report. */
export function parseWrk(output: string): WrkResult {
  const find = (pattern: RegExp) => pattern.exec(output)?.[1] ?? "";
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(find(/Non-2xx or 3xx responses: (\d+)/) || 0);
  return {
    requestsPerSecond: Number(find(/Requests\/sec:\s+([\d.]+)/)),
    requests: Number(find(/(\d+) requests in/)),
    errors: socketErrors + non2xx,
    p50Ms: ms(find(/\s50%\s+(\S+)/)),
    p99Ms: ms(find(/\s99%\s+(\S+)/)),
    maxMs: ms(find(/Latency\s+\S+\s+\S+\s+(\S+)/)),
  };
}

/** Run wrk against `url` and parse its report. */
export function wrk(
  url: string,
  options: { connections: number; seconds: number; threads?: number },
): Promise<WrkResult> {
  const { connections, seconds, threads = 2 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", [
      `-t${threads}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      "--timeout",
      "5s",
      url,
    ]);
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.once("error", reject);
    child.once(
      "exit",
      (code) => (code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited ${code}:\n${out}`))),
    );
  });
}
