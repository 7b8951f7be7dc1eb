// chat.ts
import { Hono } from "hono";
import { defineApp, type Env, getConnInfo, upgradeWebSocket } from "rota";

const app = new Hono<{ Bindings: Env }>();
app.get("/ip", (c) => c.json(getConnInfo(c))); // {"remote":{"address":"127.0.0.1","port":53122,"addressType":"IPv4","transport":"tcp"}}
app.get(
  "/ws",
  upgradeWebSocket((c) => ({
    onOpen(_event, ws) {
      ws.send(`hello from ${c.env.worker.pid}`);
    },
    onMessage(event, ws) {
      ws.send(`echo: ${event.data}`); // text as a string, binary as an ArrayBuffer
    },
    onClose(event) {
      console.log(`closed with ${event.code}`); // 1001 when a recycled worker went away
    },
  })),
);

export default defineApp({ fetch: app.fetch });
