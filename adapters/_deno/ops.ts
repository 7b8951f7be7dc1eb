/**
 * Deno's operations host: the shared one, with notifications over Deno's own
 * datagram socket when `--unstable-net` allows it.
 *
 * @module
 */

import type { OpsHost } from "../../runtime/ops/ops_host.ts";
import { opsHost } from "../_node/ops.ts";
import { notifyDeno } from "./notify.ts";

/** The supervisor's operations capabilities on Deno. */
export const denoOpsHost: OpsHost = { ...opsHost, notify: (state) => notifyDeno(state) };
