/**
 * A worker's end of the IPC channel, over `process.send` (Node and Deno
 * child processes, and Bun children spawned with `ipc`).
 *
 * @module
 */

import process from "node:process";
import type { WorkerChannel } from "../../runtime/host.ts";
import type { WorkerMessage } from "../../runtime/protocol.ts";

/**
 * Build the channel.
 *
 * @param spec The spec read from the environment.
 * @param leave Closes the channel cleanly and then calls `done`.
 * @returns The channel.
 */
export function processChannel(spec: unknown, leave: (done: () => void) => void): WorkerChannel {
  let flushed: Promise<void> = Promise.resolve();
  const send = (message: WorkerMessage): Promise<void> => {
    if (!process.connected) return Promise.resolve();
    // Sent at once, not after the previous send's callback: a heartbeat sent
    // just before the app blocks the event loop must still leave the process.
    // The channel keeps messages in order; `flushed` is only for `exit`.
    const sent = new Promise<void>((resolve) => {
      try {
        process.send!(message, undefined, {}, () => resolve());
      } catch {
        resolve();
      }
    });
    flushed = Promise.all([flushed, sent]).then(() => {});
    return sent;
  };
  return {
    spec,
    send,
    onMessage(handler) {
      process.on("message", handler);
      return () => void process.off("message", handler);
    },
    onDisconnect(handler) {
      process.on("disconnect", handler);
      return () => void process.off("disconnect", handler);
    },
    exit(code) {
      // Messages first (a `fatal` must reach the supervisor), then the channel, then the process.
      void flushed.then(() => leave(() => process.exit(code)));
    },
  };
}
