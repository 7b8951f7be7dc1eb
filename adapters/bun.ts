/**
 * The Bun adapter: workers are `Bun.spawn` children with a JSON IPC channel,
 * each serving `Bun.serve` on its own `SO_REUSEPORT` socket (Bun's
 * `node:cluster` cannot pass handles).
 *
 * Closing one of several `SO_REUSEPORT` listeners resets the connections
 * queued on it unless Linux's `net.ipv4.tcp_migrate_req` is 1, which hands
 * them to a sibling listener instead. The supervisor sets it when it can
 * (root in its network namespace) and says so at startup when it cannot.
 *
 * At a full stop, a worker stops new handshakes on its socket and accepts
 * what is queued before the socket closes, at the end of the drain's settle
 * (`_linux/listening_socket.ts`, through `bun:ffi`), so that no connection is
 * accepted by the kernel and then reset.
 *
 * WebSockets use Bun's own `server.upgrade` and `websocket` handlers (see
 * `_bun/websocket.ts`); the client's address is Bun's `server.requestIP`.
 *
 * @module
 */

import process from "node:process";
import type { Host, Listener } from "../runtime/host.ts";
import { delay } from "../runtime/_async.ts";
import type { Closable, ServeHttpOptions } from "../runtime/ops/ops_host.ts";
import { processChannel } from "./_node/channel.ts";
import { opsHost } from "./_node/ops.ts";
import { ensureConnectionMigration, migrationWarnings } from "./_linux/connection_migration.ts";
import { entryPath } from "./entry.ts";
import { listenError, nodeSysctlFiles, probePort, processHost, SPEC_VARIABLE, takeSpec } from "./_node/process.ts";
import { refusalFailed, refuseNewHandshakes } from "./_linux/listening_socket.ts";
import { bunProcFiles, openLibc } from "./_bun/libc.ts";
import {
  BunConnection,
  type BunHandlers,
  type BunServer,
  upgradeAccepted,
  webSocketHandlers,
} from "./_bun/websocket.ts";

/** The parts of the `Bun` global this adapter uses. */
interface BunApi {
  spawn(
    command: string[],
    options: {
      env: Record<string, string | undefined>;
      stdio: ["inherit", "inherit", "inherit"];
      serialization: "json";
      ipc(message: unknown): void;
    },
  ): {
    pid: number;
    exited: Promise<number>;
    exitCode: number | null;
    signalCode: string | null;
    killed: boolean;
    send(message: unknown): void;
    kill(signal?: string): void;
  };
  serve(options: {
    hostname: string;
    port: number;
    reusePort?: boolean;
    idleTimeout?: number;
    maxRequestBodySize?: number;
    fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
    websocket?: BunHandlers;
  }): BunServer & {
    stop(closeActiveConnections?: boolean): Promise<void>;
    readonly pendingRequests: number;
    readonly port: number;
  };
}

const bun = (): BunApi => (globalThis as unknown as { Bun: BunApi }).Bun;

/**
 * The admin listener on `Bun.serve` (no npm package: Bun's supervisor loads
 * none), on its own port, never shared.
 *
 * @param options Address and handler; a handler that throws answers 500.
 * @returns The bound port and a `close()` that also ends open connections.
 * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
 */
function serveAdmin(options: ServeHttpOptions): Promise<Closable & { readonly port: number }> {
  const { hostname, port, fetch } = options;
  try {
    const server = bun().serve({
      hostname,
      port,
      fetch: async (request) => {
        try {
          return await fetch(request);
        } catch {
          return new Response("internal error\n", { status: 500, headers: { "content-type": "text/plain" } });
        }
      },
    });
    return Promise.resolve({ port: server.port, close: () => server.stop(true) });
  } catch (error) {
    return Promise.reject(listenError(hostname, port, error));
  }
}

/** Bun as a rota host. */
export const host: Host = {
  ...processHost,
  runtime: "bun",
  async prepare(options) {
    await probePort(options.hostname, options.port);
    return migrationWarnings(ensureConnectionMigration(nodeSysctlFiles));
  },
  ops: { ...opsHost, serveHttp: serveAdmin },
  spawn(request) {
    const child = bun().spawn([process.execPath, entryPath()], {
      env: { ...process.env, [SPEC_VARIABLE]: JSON.stringify(request.spec) },
      stdio: ["inherit", "inherit", "inherit"],
      serialization: "json",
      ipc: (message) => request.onMessage(message),
    });
    void child.exited.then(() => request.onExit({ code: child.exitCode, signal: child.signalCode }));
    return {
      pid: child.pid,
      send(message) {
        try {
          child.send(message);
        } catch {
          // The child is gone; its exit is reported on its own.
        }
      },
      kill(signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  },
  workerChannel() {
    const spec = takeSpec();
    if (spec === undefined) return undefined;
    return processChannel(spec, (done) => {
      process.disconnect?.();
      done();
    });
  },
  listen({ hostname, port, fetch, webSockets, warn = () => {} }) {
    const serve = () => {
      try {
        return bun().serve({
          hostname,
          port,
          reusePort: true,
          // Bun's idle timeout (10 s by default, 255 s at most) also cuts a request
          // whose handler is still running and a stream that is quiet for a while:
          // 0 turns it off, so long requests behave as on Node and Deno, and
          // --request-timeout is the one limit on them.
          idleTimeout: 0,
          // rota enforces --max-body itself, the same on every runtime; Bun's own
          // limit (128 MB by default) would answer first, with a different reply.
          maxRequestBodySize: Number.MAX_SAFE_INTEGER,
          // A synchronous answer goes to Bun as it is, without a promise (see `ListenOptions.fetch`).
          fetch: (request, server) => {
            const connection = new BunConnection(server, request, webSockets);
            const respond = (answer: Response) =>
              connection.accepted ? upgradeAccepted(server, request, connection.accepted, answer) : answer;
            const answer = fetch(request, connection);
            return answer instanceof Promise ? answer.then(respond) : respond(answer);
          },
          websocket: webSocketHandlers(webSockets),
        });
      } catch (error) {
        throw listenError(hostname, port, error);
      }
    };
    type Served = ReturnType<BunApi["serve"]>;
    let current: Served | undefined;
    // Servers stopped by a pause still finish their requests; close() waits for them all.
    const servers = new Set<Served>();
    const start = () => {
      current = serve();
      servers.add(current);
    };
    // Bun cannot close its listener without closing idle keep-alive connections too.
    const stop = async () => {
      const server = current;
      current = undefined;
      await server?.stop(false);
    };
    try {
      start();
    } catch (error) {
      return Promise.reject(error);
    }
    // A full stop: the handshakes are refused at the close, not before, so that new connections are still served
    // for the drain's settle (Bun's server cannot stop accepting without closing).
    let final = false;
    const listener: Listener = {
      stopAccepting(last = false) {
        final ||= last;
      },
      pause: stop,
      resume: () => Promise.resolve(current ? undefined : start()),
      async close() {
        const port = current?.port;
        if (final && port !== undefined) {
          try {
            await refuseNewHandshakes(await openLibc(), bunProcFiles, port);
          } catch (error) {
            warn(refusalFailed(error));
          }
        }
        await stop();
        for (const server of servers) while (server.pendingRequests > 0) await delay(10);
      },
      closeAll: () => {
        for (const server of servers) void server.stop(true);
      },
    };
    return Promise.resolve(listener);
  },
};
