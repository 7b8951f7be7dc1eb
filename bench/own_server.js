// The same handler on the runtime's own server, one process, no rota: the
// baseline rota's rows are compared against. PORT from the environment.
import process from "node:process";

const port = Number(process.env.PORT);
const fetch = () => new Response(`hello from ${process.pid}\n`, { headers: { "content-type": "text/plain" } });

if ("Deno" in globalThis) {
  globalThis.Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, fetch);
} else if ("Bun" in globalThis) {
  globalThis.Bun.serve({ port, hostname: "127.0.0.1", fetch });
} else {
  const { serve } = await import("@hono/node-server");
  serve({ port, hostname: "127.0.0.1", fetch });
}
console.error("listening");
