/**
 * What the admin listener answers, as one `fetch` handler over a snapshot
 * source: the status page at `/`, the snapshot at `/status.json`, Prometheus
 * metrics at `/metrics`, and the health answers at `/_rota/ready` and
 * `/_rota/live` (which the app port serves too, from the same functions).
 *
 * @module
 */

import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./prometheus.ts";
import type { RotaSnapshot } from "./snapshot.ts";
import { renderStatusPage } from "./status_page.ts";

/** Options for {@linkcode createAdminHandler}. */
export interface AdminHandlerOptions {
  /** The rota now; called once per request. */
  snapshot(): RotaSnapshot;
  /** Prefix of the health paths. @default {"/_rota"} */
  healthPrefix?: string;
}

const NO_STORE = { "cache-control": "no-store" };

/**
 * `/_rota/ready`: 200 while at least one worker is ready and rota is not
 * stopping, else 503, with a small JSON body either way.
 *
 * @param snapshot The rota now.
 * @returns The answer.
 */
export function readinessResponse(snapshot: RotaSnapshot): Response {
  const ready = snapshot.workers.filter((worker) => worker.state === "ready").length;
  return Response.json(
    { ready: snapshot.ready, phase: snapshot.phase, workersReady: ready },
    { status: snapshot.ready ? 200 : 503, headers: NO_STORE },
  );
}

/**
 * `/_rota/live`: 200 whenever the supervisor can answer at all; its event
 * loop turning is the whole test.
 *
 * @param snapshot The rota now.
 * @returns The answer.
 */
export function livenessResponse(snapshot: RotaSnapshot): Response {
  return Response.json({ live: true, pid: snapshot.pid, phase: snapshot.phase }, { headers: NO_STORE });
}

/**
 * The admin listener's handler.
 *
 * @param options Where snapshots come from.
 * @returns A fetch handler; unknown paths get 404, other methods than GET and HEAD get 405.
 * @example
 * ```ts
 * await ops.serveHttp({ hostname: "127.0.0.1", port: 9100, fetch: createAdminHandler({ snapshot: () => supervisor.snapshot() }) });
 * ```
 */
export function createAdminHandler(options: AdminHandlerOptions): (request: Request) => Response {
  const { snapshot, healthPrefix = "/_rota" } = options;
  const page = renderStatusPage();
  return (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const path = new URL(request.url).pathname;
    switch (path) {
      case "/":
        return new Response(page, { headers: { "content-type": "text/html; charset=utf-8", ...NO_STORE } });
      case "/status.json":
        return Response.json(snapshot(), { headers: NO_STORE });
      case "/metrics":
        return new Response(renderMetrics(snapshot()), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE, ...NO_STORE },
        });
      case `${healthPrefix}/ready`:
        return readinessResponse(snapshot());
      case `${healthPrefix}/live`:
        return livenessResponse(snapshot());
      default:
        return new Response("not found\n", { status: 404 });
    }
  };
}
