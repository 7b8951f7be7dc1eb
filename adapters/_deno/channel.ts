/**
 * The IPC channel between a Deno supervisor and a worker it spawned itself
 * (`spawn.ts`): newline-delimited JSON over a Unix socket that the supervisor
 * listens on and the worker connects to, instead of Node's IPC channel. A
 * Deno child forked with Node's channel (as `node:cluster` forks) starts
 * Deno's Node compatibility layer: measured here, 5.5 MB more resident and
 * 16–17 ms more CPU to start than the same child spawned without one.
 *
 * A message goes out at once: Deno writes to a socket before the next turn
 * of the loop, so a heartbeat sent just before the app blocks the loop still
 * leaves the process (the watchdog names the request that blocked it); see
 * `#write` for when lines wait instead, and the one case where two can mix.
 *
 * The worker's first line is a token the supervisor gave it in its
 * environment: a connection that does not say it first is not the worker's,
 * and is closed.
 *
 * This module and everything a spawned worker loads import nothing of
 * Node's.
 *
 * @module
 */

/** A connected stream socket, as `Deno.connect` and `Deno.Listener.accept` give one. */
export interface StreamConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** The parts of the `Deno` global this file uses. */
interface DenoChannelApi {
  connect(options: { transport: "unix"; path: string }): Promise<StreamConn>;
  env: { get(name: string): string | undefined; delete(name: string): void };
  readonly ppid: number;
}

const deno = (): DenoChannelApi | undefined => (globalThis as unknown as { Deno?: DenoChannelApi }).Deno;

/**
 * The environment variable that tells a spawned worker where its channel is:
 * `<supervisor pid>:<token>:<socket path>`. The pid makes a value left in a
 * supervisor's own environment (or an app's child process's) count for
 * nothing: only a child of that supervisor takes it.
 */
export const CHANNEL_VARIABLE = "ROTA_DENO_CHANNEL";

/** Where a spawned worker's channel is, and what it says first. */
export interface ChannelAddress {
  readonly path: string;
  readonly token: string;
}

const encoder = new TextEncoder();
const NEWLINE = 10;
/**
 * The most bytes written at once in one turn of the loop: a heartbeat is a
 * few hundred. Longer lines, and lines past this in a burst, wait for the
 * writes before them.
 */
const EAGER_BYTES_PER_TURN = 16 * 1024;

/**
 * One end of the channel: sends values as JSON lines, and hands on each line
 * it reads as a parsed value (a line that is not JSON as its text, for the
 * receiver's validation to refuse).
 */
export class LineChannel {
  #conn: StreamConn | undefined;
  /** Lines not written yet (no connection yet, or a congested socket), each with what settles its `send`. */
  #queue: { bytes: Uint8Array; done: () => void }[] = [];
  /** Writes under way: issued, not settled yet. */
  #writes = new Set<Promise<void>>();
  /** Those of them that {@linkcode send} issued at once in this turn of the loop (until its microtasks run). */
  #thisTurn = new Set<Promise<void>>();
  /** Their bytes. */
  #thisTurnBytes = 0;
  #closed = false;
  /** The first line the peer must send, while it has not; then `undefined`. */
  #expected: string | undefined;
  #admit!: (admitted: boolean) => void;
  /** Resolves true once the peer sent the expected first line (at once when none is expected), false if it did not. */
  readonly admitted: Promise<boolean>;
  #onMessage: ((raw: unknown) => void) | undefined;
  #early: unknown[] = [];
  #onClose = new Set<() => void>();
  /** Settles once the connection is there, or failed. */
  #connected: Promise<void>;
  /** Resolves once the peer closed its end (or the connection failed), every line before it handed on. */
  readonly closed: Promise<void>;

  /**
   * @param connection The socket, or a promise of it: writes wait for it; a failure closes the channel.
   * @param expected The first line the peer must send (it is not handed on); a peer that sends another is closed.
   */
  constructor(connection: StreamConn | Promise<StreamConn>, expected?: string) {
    this.#expected = expected;
    this.admitted = new Promise((resolve) => this.#admit = resolve);
    if (expected === undefined) this.#admit(true);
    const connected = Promise.resolve(connection).then((conn) => {
      this.#conn = conn;
      if (this.#closed) conn.close();
      else this.#pump();
      return conn;
    }, () => undefined);
    this.#connected = connected.then(() => {});
    this.closed = connected.then((conn) => conn && this.#read(conn)).then(() => this.#close());
  }

  /**
   * Send a value; resolves once it was written out (or dropped: the channel
   * is closed). Never rejects.
   */
  send(value: unknown): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const bytes = encoder.encode(`${JSON.stringify(value)}\n`);
    return new Promise((done) => {
      const eager = this.#conn && this.#queue.length === 0 && this.#writes.size === this.#thisTurn.size &&
        this.#thisTurnBytes + bytes.length <= EAGER_BYTES_PER_TURN;
      if (eager) {
        if (this.#thisTurn.size === 0) {
          queueMicrotask(() => {
            this.#thisTurn.clear();
            this.#thisTurnBytes = 0;
          });
        }
        this.#thisTurnBytes += bytes.length;
        this.#thisTurn.add(this.#write(this.#conn!, bytes, done));
      } else {
        this.#queue.push({ bytes, done });
      }
    });
  }

  /** Where parsed messages go; those that arrived before a receiver was set are handed on at once. */
  onMessage(receiver: ((raw: unknown) => void) | undefined): void {
    this.#onMessage = receiver;
    if (receiver) { for (const raw of this.#early.splice(0)) receiver(raw); }
  }

  /** Called once, when the channel closes. Returns its teardown. */
  onClose(handler: () => void): () => void {
    this.#onClose.add(handler);
    return () => void this.#onClose.delete(handler);
  }

  /** Close this end after what was sent is written. */
  async close(): Promise<void> {
    await this.#connected;
    while (this.#writes.size > 0) await Promise.all(this.#writes);
    this.#close();
  }

  /**
   * Write a line. {@linkcode send} writes at once, like libuv: Deno writes to
   * a socket during the call when it can, so every line of a burst (a
   * heartbeat, then the init it announces, then a loop that blocks) is out
   * before the loop turns, in the order issued. Lines wait, then go one at a
   * time, so that a line written in part is finished before the next begins,
   * while a write from an earlier turn is still under way (the peer stopped
   * reading and the socket is full), and past {@linkcode EAGER_BYTES_PER_TURN}
   * in one turn. Left: a burst of small lines written at once into a socket
   * with less room than they take (a peer that has not read for a long while)
   * has one line cut by the next; the peer then refuses the garbled lines as
   * not JSON, and reads well again from the next line. Node's IPC channel,
   * which queues in native code, never does this.
   */
  #write(conn: StreamConn, bytes: Uint8Array, done: () => void): Promise<void> {
    const write = (async () => {
      try {
        for (let written = 0; written < bytes.length;) written += await conn.write(bytes.subarray(written));
      } catch {
        // The peer is gone: what waits is dropped, and the read side reports the close.
        this.#drop();
      }
    })();
    this.#writes.add(write);
    void write.then(() => {
      this.#writes.delete(write);
      this.#thisTurn.delete(write);
      done();
      this.#pump();
    });
    return write;
  }

  /** Write the next line that waits, once nothing else is under way. */
  #pump(): void {
    const next = this.#conn && this.#writes.size === 0 ? this.#queue.shift() : undefined;
    if (next) this.#write(this.#conn!, next.bytes, next.done);
  }

  async #read(conn: StreamConn): Promise<void> {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    let pending = "";
    for (;;) {
      let count: number | null;
      try {
        count = await conn.read(buffer);
      } catch {
        return;
      }
      if (count === null) return;
      let start = 0;
      for (let i = 0; i < count; i++) {
        if (buffer[i] !== NEWLINE) continue;
        this.#deliver(pending + decoder.decode(buffer.subarray(start, i)));
        pending = "";
        start = i + 1;
      }
      pending += decoder.decode(buffer.subarray(start, count), { stream: true });
    }
  }

  #deliver(line: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      raw = line;
    }
    if (this.#expected !== undefined) {
      const admitted = raw === this.#expected;
      this.#expected = undefined;
      this.#admit(admitted);
      if (!admitted) this.#close();
      return;
    }
    if (this.#closed) return;
    if (this.#onMessage) this.#onMessage(raw);
    else this.#early.push(raw);
  }

  #drop(): void {
    for (const { done } of this.#queue.splice(0)) done();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#admit(this.#expected === undefined);
    this.#drop();
    try {
      this.#conn?.close();
    } catch {
      // Closed already.
    }
    for (const handler of [...this.#onClose]) handler();
  }
}

/**
 * The value of {@linkcode CHANNEL_VARIABLE} for a worker.
 *
 * @param supervisorPid The supervisor's pid.
 * @param address The socket and the token.
 * @returns The value.
 */
export function channelVariable(supervisorPid: number, address: ChannelAddress): string {
  return `${supervisorPid}:${address.token}:${address.path}`;
}

/**
 * Where this process's channel is, when a Deno supervisor spawned it as a
 * worker; `undefined` anywhere else (Node, Bun, a forked Deno worker, a
 * supervisor). Reads the environment only.
 *
 * @returns The socket and the token.
 */
export function spawnedChannel(): ChannelAddress | undefined {
  const value = deno()?.env.get(CHANNEL_VARIABLE);
  const match = value === undefined ? null : /^(\d+):([^:]+):(.+)$/s.exec(value);
  if (!match || match[1] !== String(deno()!.ppid)) return undefined;
  return { token: match[2], path: match[3] };
}

/**
 * Connect to the supervisor and say the token first, removing the channel's
 * variable from the environment so that the app's own child processes do
 * not take it.
 *
 * @param address From {@linkcode spawnedChannel}.
 * @returns This end of the channel (it connects in the background; sends wait).
 */
export function connectChannel(address: ChannelAddress): LineChannel {
  const api = deno()!;
  api.env.delete(CHANNEL_VARIABLE);
  const channel = new LineChannel(api.connect({ transport: "unix", path: address.path }));
  void channel.send(address.token);
  return channel;
}
