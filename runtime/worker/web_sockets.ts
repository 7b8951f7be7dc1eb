/**
 * A worker's open WebSockets. A WebSocket is work in flight for the drain:
 * a draining worker keeps its sockets open (they go on working) until they
 * close by themselves or the graceful timeout passes, and then closes them
 * with 1001, "going away", which tells clients to reconnect (to the worker
 * that replaced this one). An app's event handler that throws is logged as
 * one line; the socket stays up.
 *
 * @module
 */

import { type Clock, sleep } from "../clock.ts";
import type { ServerSocket, SocketEvents } from "../connection.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** The close code for a server going away (RFC 6455, 7.4.1). */
export const GOING_AWAY = 1001;

/** How long clients get to answer the closing handshake before their sockets are dropped. */
export const CLOSE_HANDSHAKE_MS = 1000;

/** How the app's handlers are named in log lines, by event. */
const HANDLER_NAMES: Record<keyof SocketEvents, string> = {
  open: "onOpen",
  message: "onMessage",
  close: "onClose",
  error: "onError",
};

/** Options for {@linkcode OpenSockets}. */
export interface OpenSocketsOptions {
  /** Where failing handlers are reported. */
  log: Logger;
  /** The clock the closing handshake is timed on. */
  clock: Clock;
  /** How long clients get to answer the closing handshake. @default {CLOSE_HANDSHAKE_MS} */
  closeHandshakeMs?: number;
}

/**
 * The open WebSockets of one worker.
 *
 * @example
 * ```ts
 * const sockets = new OpenSockets({ log, clock });
 * connection.acceptWebSocket({ events: sockets.track(events), protocol });
 * // at the graceful timeout:
 * await sockets.goAway();
 * ```
 */
export class OpenSockets {
  #open = new Set<ServerSocket>();
  #log: Logger;
  #clock: Clock;
  #closeHandshakeMs: number;
  #idle: Array<() => void> = [];

  /** @param options Where to log, and the clock. */
  constructor(options: OpenSocketsOptions) {
    const { log, clock, closeHandshakeMs = CLOSE_HANDSHAKE_MS } = options;
    this.#log = log;
    this.#clock = clock;
    this.#closeHandshakeMs = closeHandshakeMs;
  }

  /** How many sockets are open now. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Count a socket being accepted, from its `open` to its `close`, and
   * report its handlers' failures.
   *
   * @param events The app's side of the socket.
   * @returns The events to hand the adapter.
   */
  track(events: SocketEvents): SocketEvents {
    let socket: ServerSocket | undefined;
    return {
      open: (opened) => {
        socket = opened;
        this.#open.add(opened);
        this.#run("open", () => events.open(opened));
      },
      message: (data) => this.#run("message", () => events.message(data)),
      error: (error) => this.#run("error", () => events.error(error)),
      close: (code, reason) => {
        // Only an opened socket was counted, and only once.
        if (!socket || !this.#open.delete(socket)) return;
        this.#run("close", () => events.close(code, reason));
        if (this.#open.size === 0) this.#idle.splice(0).forEach((resolve) => resolve());
      },
    };
  }

  /**
   * Wait until no socket is open.
   *
   * @returns Once the last open socket closed (at once when none is).
   */
  idle(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Close every open socket with 1001, wait (at most the closing handshake's
   * time) for them to close, then drop those that did not.
   *
   * @returns Once every socket is closed or dropped.
   */
  async goAway(): Promise<void> {
    const sockets = [...this.#open];
    if (sockets.length === 0) return;
    for (const socket of sockets) {
      try {
        socket.close(GOING_AWAY, "server going away");
      } catch {
        socket.terminate();
      }
    }
    const waited = new AbortController();
    await Promise.race([this.idle(), sleep(this.#clock, this.#closeHandshakeMs, waited.signal).catch(() => {})]);
    waited.abort();
    for (const socket of this.#open) socket.terminate();
  }

  #run(event: keyof SocketEvents, handler: () => unknown): void {
    const failed = (error: unknown) =>
      this.#log.error(`WebSocket ${HANDLER_NAMES[event]} handler failed: ${describeError(error)}`, {
        stack: error instanceof Error ? error.stack : undefined,
      });
    try {
      const result = handler() as { then?: unknown } | undefined;
      if (typeof result?.then === "function") (result as Promise<unknown>).then(undefined, failed);
    } catch (error) {
      failed(error);
    }
  }
}
