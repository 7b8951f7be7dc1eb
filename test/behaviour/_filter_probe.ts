/**
 * Run by Bun as the user under test: whether this system lets that user put
 * rota's SYN filter on a listening TCP socket (some kernels ask for
 * CAP_NET_ADMIN). Prints "attached" or "refused: <why>".
 */

import { bunProcFiles, openLibc } from "../../adapters/_bun/libc.ts";
import { refuseNewHandshakes } from "../../adapters/_linux/listening_socket.ts";

const bun = (globalThis as unknown as {
  Bun: { serve(options: object): { port: number; stop(force: boolean): void } };
}).Bun;
const server = bun.serve({ hostname: "127.0.0.1", port: 0, reusePort: true, fetch: () => new Response("") });
try {
  await refuseNewHandshakes(await openLibc(), bunProcFiles, server.port);
  console.log("attached");
} catch (error) {
  console.log(`refused: ${(error as Error).message}`);
} finally {
  server.stop(true);
}
