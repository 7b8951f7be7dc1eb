/**
 * Deno workers serving on `Deno.serve`, each on its own `SO_REUSEPORT`
 * socket: about twice the throughput of `node:http` on Deno, at half the
 * memory (see the README's benchmarks). It takes three things, which the
 * supervisor checks before it starts any worker (`server_choice.ts`):
 *
 * - `--unstable-net`, for `reusePort` (workers inherit the supervisor's flags);
 * - Linux's `net.ipv4.tcp_migrate_req` at 1, so that connections queued on a
 *   draining worker's socket go to a sibling's instead of being reset;
 * - `--allow-ffi` and libc's `shutdown`: `Deno.serve`'s own `shutdown()` closes
 *   the listener *and* drops connections it accepted but has not read a
 *   request from yet (4–23 lost per drain, RUNTIME-NOTES.md). A draining
 *   worker therefore first takes its listening socket out of service with
 *   `shutdown(fd, SHUT_RD)` (`_linux/listening_socket.ts`: its queue migrates, nothing new arrives), keeps
 *   answering on what it accepted, and calls `Deno.serve`'s `shutdown()` only
 *   once every accepted connection has had time to send its request.
 *
 * Without any of the three, Deno workers serve through `node:http` on the
 * supervisor's socket, which loses nothing with no sysctl and no flag.
 *
 * @module
 */

import {
  asksForWebSocket,
  familyOf,
  type RemoteAddress,
  type RequestConnection,
  type SocketAcceptance,
} from "../../runtime/connection.ts";
import { delay } from "../../runtime/_async.ts";
import { describeError } from "../../runtime/errors.ts";
import type { Listener, ListenOptions } from "../../runtime/host.ts";
import { listenError } from "../listen_error.ts";
import { takeOutOfService } from "../_linux/listening_socket.ts";
import { denoProcFiles, openLibc } from "./libc.ts";
import { upgradeAccepted } from "./websocket.ts";

interface NetAddr {
  readonly hostname: string;
  readonly port: number;
  readonly transport: string;
}

interface ServeInfo {
  readonly remoteAddr: NetAddr;
  /** Settles once the response was sent in full, or could not be. */
  readonly completed: Promise<void>;
}

interface HttpServer {
  readonly addr: NetAddr;
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** The parts of the `Deno` global this file uses. */
interface DenoServeApi {
  serve(
    options: {
      hostname: string;
      port: number;
      reusePort: boolean;
      onListen(): void;
      onError(error: unknown): Response;
    },
    handler: (request: Request, info: ServeInfo) => Response | Promise<Response>,
  ): HttpServer;
}

const deno = (): DenoServeApi => (globalThis as unknown as { Deno: DenoServeApi }).Deno;

/** How soon a worker listens again after its socket stopped accepting on its own. */
const RELISTEN_MS = 1000;
/** How long a drain waits for `Deno.serve`'s `shutdown()` once nothing is under way (it may never resolve). */
const SHUTDOWN_HANG_MS = 1000;

/**
 * One request's connection on `Deno.serve`. It reads the request's headers
 * only when asked: building a served request's `Headers` cost ~0.7 µs of the
 * ~9.4 µs of CPU a one-worker rota spent per one-line answer (the worker's
 * CPU time from `/proc` over a `wrk` run, divided by its requests).
 */
class DenoConnection implements RequestConnection {
  readonly bindings: { remoteAddr: NetAddr };
  /** The WebSocket the app accepted on this request. */
  accepted: SocketAcceptance | undefined;
  #request: Request;

  /** Reading `request.signal` makes `Deno.serve` warn once a response succeeds (its legacy abort). */
  readonly watchSignal = false;

  constructor(request: Request, remoteAddr: NetAddr) {
    this.#request = request;
    this.bindings = { remoteAddr };
  }

  get acceptWebSocket(): ((acceptance: SocketAcceptance) => void) | undefined {
    if (!asksForWebSocket(this.#request.headers)) return undefined;
    return (acceptance) => (this.accepted = acceptance);
  }

  /**
   * `Deno.serve` answers a request that asked to close its connection with
   * `Connection: close` of its own; one from rota as well would say it twice.
   * (One the app sets itself, while rota does not close the connection, does
   * go out twice: a list field, valid per RFC 9110, and checking every
   * response for it cost as much as reading the request's headers.)
   */
  get closesItself(): boolean {
    return this.#request.headers.get("connection")?.toLowerCase() === "close";
  }

  /** `Deno.serve` gives a handler no hold on its connection; an errored body aborts the response instead. */
  cut(): boolean {
    return false;
  }

  remote(): RemoteAddress | undefined {
    const { hostname, port } = this.bindings.remoteAddr;
    return { address: hostname, port, family: familyOf(hostname) };
  }
}

/**
 * A count of things under way (requests being answered, open WebSockets),
 * and a wait for the moment there are none.
 */
class OpenCount {
  #open = 0;
  #idle: (() => void)[] = [];

  add(): void {
    this.#open++;
  }

  remove(): void {
    if (--this.#open > 0) return;
    for (const done of this.#idle.splice(0)) done();
  }

  get size(): number {
    return this.#open;
  }

  idle(): Promise<void> {
    return this.#open === 0 ? Promise.resolve() : new Promise((done) => this.#idle.push(done));
  }
}

/**
 * Serve on `Deno.serve` with `reusePort`, on this worker's own socket.
 *
 * @param options Address and handler.
 * @returns The listener.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
export function listenDenoServe(options: ListenOptions): Promise<Listener> {
  const { hostname, port, fetch, warn = () => {} } = options;
  // Requests from their start until their response was sent, and open WebSockets: Deno's shutdown() never
  // resolves after a WebSocket handshake whose client left before the 101 (Deno 2.9.6), so close() also
  // resolves once neither is left.
  const requests = new OpenCount();
  const sockets = new OpenCount();
  // Shared by every request rather than two closures each: a request's allocations are its CPU on Deno.
  const sent = () => requests.remove();
  const respond = (request: Request, info: ServeInfo, connection: DenoConnection, response: Response) => {
    if (!connection.accepted) {
      info.completed.then(sent, sent);
      return response;
    }
    // A WebSocket is counted from its open instead.
    requests.remove();
    return upgradeAccepted(request, connection.accepted, response, sockets);
  };
  const failed = (info: ServeInfo, error: unknown): never => {
    // Deno answers with onError's 500: counted until it was sent, as any answer.
    info.completed.then(sent, sent);
    throw error;
  };
  // A synchronous answer goes to Deno as it is, without a promise (see `ListenOptions.fetch`).
  const answer = (request: Request, info: ServeInfo): Response | Promise<Response> => {
    requests.add();
    const connection = new DenoConnection(request, info.remoteAddr);
    let response: Response | Promise<Response>;
    try {
      response = fetch(request, connection);
    } catch (error) {
      return failed(info, error);
    }
    if (!(response instanceof Promise)) return respond(request, info, connection, response);
    return response.then(
      (response) => respond(request, info, connection, response),
      (error) => failed(info, error),
    );
  };
  // Servers out of service still answer on their connections; close() shuts them all down.
  const servers = new Set<HttpServer>();
  let current: HttpServer | undefined;
  let closing = false;
  const serve = (): HttpServer => {
    let server: HttpServer;
    try {
      server = deno().serve({
        hostname,
        port,
        reusePort: true,
        onListen() {},
        onError: () => new Response("internal error\n", { status: 500, headers: { "content-type": "text/plain" } }),
      }, answer);
    } catch (error) {
      throw listenError(hostname, port, error);
    }
    // Taking the socket out of service (stopAccepting) ends Deno's accept loop with EINVAL: expected.
    // Any other end (EMFILE) closes the socket: listen again, as libuv would keep accepting.
    server.finished.then(undefined, (error) => {
      if (current !== server) return;
      current = undefined;
      warn(`the listening socket stopped accepting (${describeError(error)}); listening again`);
      relisten();
    });
    servers.add(server);
    return server;
  };
  const relisten = () => {
    setTimeout(() => {
      if (closing || current) return;
      try {
        current = serve();
      } catch (error) {
        warn(`cannot listen again (${describeError(error)}); retrying in 1s`);
        relisten();
      }
    }, RELISTEN_MS);
  };
  // Resolves once no request nor WebSocket has been under way for SHUTDOWN_HANG_MS (`completed` may
  // settle before the last bytes left; the wait lets them go before the worker exits).
  const quiet = async () => {
    for (;;) {
      await requests.idle();
      await sockets.idle();
      await delay(SHUTDOWN_HANG_MS);
      if (requests.size === 0 && sockets.size === 0) return;
    }
  };
  const stopAccepting = async (final = false) => {
    const server = current;
    if (!server) return;
    current = undefined;
    try {
      await takeOutOfService(openLibc(), denoProcFiles, server.addr.port, final, warn);
    } catch (error) {
      // Deno's own shutdown still stops the socket; it may drop connections accepted and not yet read.
      warn(`cannot take the listening socket out of service (${describeError(error)}); shutting the server down`);
      void server.shutdown();
    }
  };
  try {
    current = serve();
  } catch (error) {
    return Promise.reject(error);
  }
  const listener: Listener = {
    stopAccepting,
    pause: () => stopAccepting(),
    // In a promise, so that a listen that fails rejects (ERR_ROTA_LISTEN).
    resume: () =>
      new Promise<void>((done) => {
        current ??= serve();
        done();
      }),
    async close() {
      closing = true;
      await stopAccepting();
      await sockets.idle();
      await Promise.race([Promise.all([...servers].map((server) => server.shutdown())), quiet()]);
    },
    // Deno.serve cannot drop its connections; the worker's exit, which follows, does.
    closeAll() {},
  };
  return Promise.resolve(listener);
}
