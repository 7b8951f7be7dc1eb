/**
 * What the operations side of a supervisor needs from its runtime: an HTTP
 * listener for the admin endpoints, a local control socket, and a way to
 * talk to systemd. Each adapter provides one (`adapters/_node/ops.ts` serves
 * all three runtimes through `node:` modules); nothing under `runtime/`
 * touches a runtime global.
 *
 * @module
 */

import type { ControlRequest, ControlResponse } from "./control.ts";

/** A server that can be closed. */
export interface Closable {
  /** Stop listening and release the address; resolves once done. */
  close(): Promise<void>;
}

/** Options of {@linkcode OpsHost.serveHttp}. */
export interface ServeHttpOptions {
  /** Address to bind; the admin listener binds loopback unless told otherwise. */
  readonly hostname: string;
  /** Port; 0 picks a free one (see the returned `port`). */
  readonly port: number;
  /** Answer one request. A throw becomes a 500. */
  fetch(request: Request): Response | Promise<Response>;
}

/** Answers one control request. */
export type ControlHandler = (request: ControlRequest) => Promise<ControlResponse>;

/** Options of {@linkcode OpsHost.callControl}. */
export interface CallControlOptions {
  /** Give up after this long. @default {10000} */
  readonly timeoutMs?: number;
}

/** The runtime's side of operations. */
export interface OpsHost {
  /**
   * Serve HTTP on an address.
   * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
   */
  serveHttp(options: ServeHttpOptions): Promise<Closable & { readonly port: number }>;
  /**
   * Listen on a unix socket at `path` (mode 0600, its directory created 0700
   * when missing) for JSON-lines control requests. A socket file left behind
   * by a dead process is replaced; one that still answers is not.
   * @throws {RotaError} `ERR_ROTA_CONTROL` when the path is taken, too long, or unsafe.
   */
  listenControl(path: string, handler: ControlHandler): Promise<Closable>;
  /**
   * Send one control request and wait for its answer.
   * @throws {RotaError} `ERR_ROTA_CONTROL` when nobody listens there or no answer came.
   */
  callControl(path: string, request: ControlRequest, options?: CallControlOptions): Promise<ControlResponse>;
  /**
   * Send an `sd_notify` state (`READY=1\nSTATUS=…`) to `$NOTIFY_SOCKET`; a
   * no-op when it is unset.
   * @throws {RotaError} `ERR_ROTA_NOTIFY` when the state cannot be delivered.
   */
  notify(state: string): Promise<void>;
  /** This process's user id, for the default control socket path (`defaultControlPath`); 0 where the runtime has none. */
  uid(): number;
  /**
   * Whether a process still runs (a zombie waiting for its parent counts as
   * gone): `rota stop` waits for the rota's own exit.
   */
  processAlive(pid: number): boolean;
  /**
   * `CLOCK_MONOTONIC` in microseconds, which systemd wants beside
   * `RELOADING=1` (`MONOTONIC_USEC=`); absent where the runtime cannot read
   * that clock (Bun's and Deno's `hrtime` count from their own start).
   */
  monotonicMicros?(): bigint;
}
