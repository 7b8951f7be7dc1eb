/**
 * The Node adapter: workers are `node:cluster` processes sharing one socket
 * owned by the supervisor (`SCHED_NONE`), served through `node:http`.
 *
 * @module
 */

import type { Host } from "../runtime/host.ts";
import { clusterChannel, clusterSpawn } from "./_node/cluster.ts";
import { listenNodeHttp } from "./_node/http.ts";
import { probePort, processHost } from "./_node/process.ts";

/** Node as a rota host. */
export const host: Host = {
  ...processHost,
  runtime: "node",
  async prepare(options) {
    await probePort(options.hostname, options.port);
    return [];
  },
  spawn: clusterSpawn,
  workerChannel: clusterChannel,
  listen: listenNodeHttp,
};
