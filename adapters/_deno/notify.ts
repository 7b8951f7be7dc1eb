/**
 * `sd_notify` over Deno's own unix datagram socket, when Deno runs with
 * `--unstable-net` (`Deno.listenDatagram`). The datagram then comes from
 * rota's own pid, so `NotifyAccess=main` suffices and no helper process runs
 * per state. Without the flag, or for an abstract `@name` socket (which
 * Deno's API cannot address), `systemd-notify` does it.
 *
 * @module
 */

import { RotaError } from "../../runtime/errors.ts";
import { notifyTarget } from "../../runtime/ops/systemd.ts";

interface DatagramConn {
  send(data: Uint8Array, address: { transport: "unixpacket"; path: string }): Promise<number>;
  close(): void;
}

interface DenoDatagramApi {
  listenDatagram?: (options: { transport: "unixpacket"; path: string }) => DatagramConn;
  makeTempDir(): Promise<string>;
  remove(path: string, options: { recursive: boolean }): Promise<void>;
  env: { toObject(): Record<string, string> };
}

const deno = (): DenoDatagramApi => (globalThis as unknown as { Deno: DenoDatagramApi }).Deno;

/**
 * Whether this Deno can send unix datagrams itself.
 *
 * @returns True with `--unstable-net`.
 */
export function hasDatagrams(): boolean {
  return typeof deno().listenDatagram === "function";
}

/**
 * Deliver one notify state.
 *
 * @param state Newline-separated `KEY=VALUE` lines.
 * @param env The environment. @default {Deno.env.toObject()}
 * @returns When the datagram was sent; at once when `NOTIFY_SOCKET` is unset.
 * @throws {RotaError} `ERR_ROTA_NOTIFY` when it cannot be sent.
 */
export async function notifyDeno(state: string, env: Record<string, string | undefined> = deno().env.toObject()) {
  const target = notifyTarget(env);
  if (target.kind === "none") return;
  // systemd-notify, through node:child_process: loaded only here.
  if (target.kind !== "path" || !hasDatagrams()) return (await import("../_node/notify.ts")).notifySystemd(state, env);
  // A datagram socket sends from an address of its own: bind one in a private temporary directory.
  const dir = await deno().makeTempDir();
  try {
    const conn = deno().listenDatagram!({ transport: "unixpacket", path: `${dir}/rota.sock` });
    try {
      await conn.send(new TextEncoder().encode(state), { transport: "unixpacket", path: target.path });
    } finally {
      conn.close();
    }
  } catch (error) {
    throw new RotaError("ERR_ROTA_NOTIFY", `cannot send to NOTIFY_SOCKET ${target.path}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await deno().remove(dir, { recursive: true }).catch(() => {});
  }
}
