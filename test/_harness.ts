/**
 * Starting real rota processes on a chosen runtime, and talking HTTP to them
 * on 127.0.0.1. Every wait is bounded; every process is killed by pid.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { createServer } from "node:net";
import { delimiter, join, resolve } from "node:path";
import process from "node:process";

export const ROOT = resolve(import.meta.dirname, "..");
export const FIXTURES = join(ROOT, "test", "fixtures");
export const BIN = join(ROOT, "node_modules", ".bin");

/** A runtime the behavioural suite runs rota on. */
export interface Target {
  readonly name: string;
  /** The command that runs a script on this runtime (the script's path follows). */
  readonly script: readonly string[];
  /** The command that stands for `rota`: how a user of this runtime runs it. */
  readonly command: readonly string[];
}

function target(name: string, script: string[], entry: string): Target {
  return { name, script, command: [...script, join(ROOT, entry)] };
}

/** The machine's own `node` (Node 20 here), not the one npm installed. */
export function systemNode(): string {
  if (process.env.ROTA_SYSTEM_NODE) return process.env.ROTA_SYSTEM_NODE;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir || dir.includes("node_modules")) continue;
    const candidate = join(dir, "node");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error("no node outside node_modules on PATH");
}

/** Node runs the bundle; Bun and Deno run the sources, as their users do. */
export const TARGETS: Record<string, () => Target> = {
  "node-system": () => target("node (machine)", [systemNode()], "dist/main.js"),
  "node-npm": () => target("node 24 (npm)", [join(BIN, "node")], "dist/main.js"),
  "bun": () => target("bun", [join(BIN, "bun")], "main.ts"),
  "deno": () => target("deno", [join(BIN, "deno"), "run", "-A", "--unstable-net"], "main.ts"),
  "deno-node-http": () => target("deno, node:http", [join(BIN, "deno"), "run", "-A"], "main.ts"),
};

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Thrown by a {@linkcode waitFor} check: what it waits for can no longer happen, so the wait ends at once. */
export class GiveUp extends Error {}

/** Resolve when `check` returns a truthy value; fail after `timeoutMs`, or at once when it throws {@linkcode GiveUp}. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 15000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** One HTTP answer. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET over a new connection (no keep-alive), bounded by `timeoutMs`. */
export function get(url: string, timeoutMs = 10000): Promise<Answer> {
  return new Promise((done, fail) => {
    const request = http.get(url, { agent: false, timeout: timeoutMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => done({ status: response.statusCode ?? 0, headers: response.headers, body }));
      response.on("error", fail);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", fail);
  });
}

/** How a process ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A rota process started by a test. */
export class Rota {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<Ended>;
  stdout = "";
  stderr = "";

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (this.stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    // "close", not "exit": by then every byte the process (and any worker sharing its pipes) wrote has been read.
    this.exited = new Promise((done) => child.once("close", (code, signal) => done({ code, signal })));
  }

  /** Run `rota <args>` on `target`; `port` is only recorded. */
  static run(
    target: Target,
    args: readonly string[],
    options: { env?: Record<string, string>; port?: number; cwd?: string; ownGroup?: boolean } = {},
  ): Rota {
    const [command, ...prefix] = target.command;
    const child = spawn(command, [...prefix, ...args], {
      cwd: options.cwd ?? FIXTURES,
      env: { ...process.env, ROTA_LOG_FORMAT: "pretty", NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, as a shell gives a foreground job: a signal to the group reaches rota and its workers.
      detached: options.ownGroup ?? false,
    });
    const rota = new Rota(child, options.port ?? 0);
    running.add(rota);
    void rota.exited.then(() => running.delete(rota));
    return rota;
  }

  /** `rota serve <app> --port <free port> <args>`, resolved once `ready` workers are up. */
  static async serve(
    target: Target,
    app: string,
    args: readonly string[] = [],
    options: { env?: Record<string, string>; ready?: RegExp; cwd?: string; ownGroup?: boolean } = {},
  ): Promise<Rota> {
    const port = await freePort();
    const rota = Rota.run(target, ["serve", app, "--port", String(port), "--hostname", "127.0.0.1", ...args], {
      ...options,
      port,
    });
    // Generous: a busy 2-core machine can take many seconds to start a Deno rota.
    await rota.waitForLog(options.ready ?? /workers? ready/, 60000);
    return rota;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.stdout + this.stderr;
  }

  /** Wait until the combined output matches. */
  async waitForLog(pattern: RegExp, timeoutMs = 20000): Promise<RegExpMatchArray> {
    let ended = false;
    void this.exited.then(() => (ended = true));
    try {
      return await waitFor(`log line ${pattern}`, () => {
        const match = this.log.match(pattern);
        // "close" comes after the output ended: no line can come any more.
        if (!match && ended) throw new GiveUp(`rota exited before printing a line that matches ${pattern}`);
        return match;
      }, timeoutMs);
    } catch (error) {
      // What rota said so far is what explains the wait.
      throw new Error(`${(error as Error).message}\nrota's output so far:\n${this.log.slice(-4000)}`);
    }
  }

  /** Worker pids the supervisor reported starting, in order. */
  workerPids(): number[] {
    return [...this.log.matchAll(/started worker \d+\.\d+ \(pid=(\d+)/g)].map((m) => Number(m[1]));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /**
   * Wait for the process to exit by itself, at most `timeoutMs`; past that it
   * is SIGKILLed and the wait fails, so that no test hangs on a stuck rota.
   */
  async ended(timeoutMs = 20000): Promise<Ended> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        this.signal("SIGKILL");
        fail(new Error(`rota did not exit within ${timeoutMs}ms; output:\n${this.log}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop gracefully and wait; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15000): Promise<Ended> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

const running = new Set<Rota>();

/**
 * How a worker process was started (Linux `/proc`): whether it was forked
 * with Node's IPC channel (as `node:cluster` forks), and its command line
 * after the executable.
 */
export function workerStart(pid: number): { forked: boolean; command: string } {
  const environment = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((part) => part !== "");
  return {
    forked: environment.some((entry) => entry.startsWith("NODE_CHANNEL_FD=")),
    command: command.slice(1).join(" "),
  };
}

/** Kill, by pid, every rota a test started and left running (after a failed assertion). */
export async function killLeftovers(): Promise<void> {
  await Promise.all([...running].map((rota) => rota.stop(5000)));
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What a load run saw. */
export interface LoadResult {
  sent: number;
  ok: number;
  /** Answers with a status other than 2xx, by status. */
  bad: Record<number, number>;
  /** Requests that got no answer, by error. */
  lost: Record<string, number>;
  pids: Set<number>;
  /** The longest time one request took, answered or not, in milliseconds. */
  maxMs: number;
}

/** One request of a load run: when it started (`Date.now()`), how long it took, and whether it got a 2xx. */
export interface LoadSample {
  at: number;
  ms: number;
  ok: boolean;
}

/**
 * Send GET requests from `connections` loops until `done()` says so, or
 * `durationMs` passed, or `maxRequests` were sent, whichever comes first.
 * With `keepAlive`, each loop reuses its connection (opening a new one when
 * the server closes it); without, every request opens a new connection.
 */
export async function load(
  url: string,
  options: {
    connections: number;
    durationMs: number;
    maxRequests: number;
    keepAlive: boolean;
    done?: () => boolean;
    /** Every request's sample is pushed here when given. */
    samples?: LoadSample[];
  },
): Promise<LoadResult> {
  const { connections, durationMs, maxRequests, keepAlive, done = () => false, samples } = options;
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: connections }) : false;
  const result: LoadResult = { sent: 0, ok: 0, bad: {}, lost: {}, pids: new Set(), maxMs: 0 };
  const until = Date.now() + durationMs;
  const one = () =>
    new Promise<void>((settle) => {
      const at = Date.now();
      let settled = false;
      const done = (ok = false) => {
        if (settled) return;
        settled = true;
        const ms = Date.now() - at;
        result.maxMs = Math.max(result.maxMs, ms);
        samples?.push({ at, ms, ok });
        settle();
      };
      const request = http.get(url, { agent, timeout: 10000 }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            result.ok++;
            const pid = Number(/"pid":(\d+)/.exec(body)?.[1]);
            if (pid) result.pids.add(pid);
            return done(true);
          }
          result.bad[status] = (result.bad[status] ?? 0) + 1;
          done();
        });
        response.on("error", (error) => {
          result.lost[error.message] = (result.lost[error.message] ?? 0) + 1;
          done();
        });
      });
      request.on("timeout", () => request.destroy(new Error("timeout")));
      request.on("error", (error: NodeJS.ErrnoException) => {
        const key = error.code ?? error.message;
        result.lost[key] = (result.lost[key] ?? 0) + 1;
        done();
      });
    });
  await Promise.all(Array.from({ length: connections }, async () => {
    while (Date.now() < until && result.sent < maxRequests && !done()) {
      result.sent++;
      await one();
    }
  }));
  if (agent) agent.destroy();
  return result;
}
