/**
 * `sd_notify` for runtimes without unix datagram sockets. Node has none, Bun's
 * `udpSocket` is UDP only, and Deno's `Deno.listenDatagram` needs
 * `--unstable-net`; so rota runs systemd's own `systemd-notify`, one process
 * per state (a few per deploy, one per watchdog beat).
 *
 * `systemd-notify` waits until systemd has processed the datagram (a barrier),
 * so the message is attributed to the unit even though its sender exits at
 * once. Run as root, it sends with the credentials of its parent, rota, so
 * `NotifyAccess=main` suffices; as another user the sender is
 * `systemd-notify` itself and the unit needs `NotifyAccess=all`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { RotaError } from "../../runtime/errors.ts";
import { notifyTarget } from "../../runtime/ops/systemd.ts";

/** How long one `systemd-notify` may take; its own barrier waits up to 5 s. */
const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Deliver one notify state.
 *
 * @param state Newline-separated `KEY=VALUE` lines.
 * @param env The environment to read `NOTIFY_SOCKET` from and pass on. @default {process.env}
 * @returns When systemd processed it; at once when `NOTIFY_SOCKET` is unset.
 * @throws {RotaError} `ERR_ROTA_NOTIFY` when `systemd-notify` is missing or fails.
 */
export function notifySystemd(
  state: string,
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  const target = notifyTarget(env);
  if (target.kind === "none") return Promise.resolve();
  if (target.kind === "unsupported") {
    return Promise.reject(new RotaError("ERR_ROTA_NOTIFY", `unsupported NOTIFY_SOCKET '${target.value}'`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn("systemd-notify", state.split("\n"), {
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), NOTIFY_TIMEOUT_MS);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new RotaError(
          "ERR_ROTA_NOTIFY",
          error.code === "ENOENT"
            ? "systemd-notify is not installed (Debian and Ubuntu: apt-get install systemd)"
            : `cannot run systemd-notify: ${error.message}`,
          { cause: error },
        ),
      );
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = stderr.trim().split("\n")[0] || (signal ? `killed by ${signal}` : `exit code ${code}`);
      reject(new RotaError("ERR_ROTA_NOTIFY", `systemd-notify failed: ${why}`));
    });
  });
}
