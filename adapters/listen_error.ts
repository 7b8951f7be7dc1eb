/**
 * The one error every adapter gives for an address it cannot bind. Imports
 * nothing of any runtime, so that a Deno worker that never loads Node's
 * compatibility layer can use it too.
 *
 * @module
 */

import { describeError, RotaError } from "../runtime/errors.ts";

/**
 * The error for an address that cannot be bound.
 *
 * @param hostname Address.
 * @param port Port.
 * @param error What the runtime reported.
 * @returns A `RotaError` with code `ERR_ROTA_LISTEN`.
 */
export function listenError(hostname: string, port: number, error: unknown): RotaError {
  const code = (error as { code?: string })?.code;
  const why = code === "EADDRINUSE"
    ? "address already in use"
    : code === "EACCES"
    ? "permission denied"
    : code === "EADDRNOTAVAIL"
    ? "address not available on this machine"
    : describeError(error);
  return new RotaError("ERR_ROTA_LISTEN", `Cannot listen on ${hostname}:${port}: ${why}`, { cause: error });
}
