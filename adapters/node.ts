/**
 * The Node adapter: workers are `node:cluster` processes sharing one socket
 * owned by the supervisor (`SCHED_NONE`), served through `node:http`.
 * TypeScript apps run through Node's own type stripping, or through esbuild
 * where this Node has none.
 *
 * @module
 */

import type { Host } from "../runtime/host.ts";
import { clusterChannel, clusterSpawn, workerServerLoaded } from "./_node/cluster.ts";
import { listenNodeHttp } from "./_node/http.ts";
import { nodeMonotonicMicros, opsHost } from "./_node/ops.ts";
import { importModule, probePort, processHost } from "./_node/process.ts";
import { locateSyntaxError } from "./_node/syntax_location.ts";
import { prepareTypeScript } from "./_node/typescript.ts";

/** Node as a rota host. */
export const host: Host = {
  ...processHost,
  runtime: "node",
  importModule: (specifier) =>
    importModule(specifier, {
      async prepare(url) {
        await workerServerLoaded();
        await prepareTypeScript(url);
      },
      locate: locateSyntaxError,
    }),
  async prepare(options) {
    await probePort(options.hostname, options.port);
    return [];
  },
  spawn: clusterSpawn,
  workerChannel: clusterChannel,
  listen: listenNodeHttp,
  ops: { ...opsHost, monotonicMicros: nodeMonotonicMicros },
};
