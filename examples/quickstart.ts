// The README's quick start, as a file: `deno run -A main.ts serve examples/quickstart.ts`.
import { Hono } from "hono";
import { defineApp, type Env } from "rota";

type State = { greeting: string };
const app = new Hono<{ Bindings: Env<State> }>();
app.get("/", (c) => c.text(`${c.env.state.greeting} from ${c.env.worker.pid}`));

export default defineApp<State>({
  init({ signal, attempt }) {
    signal.throwIfAborted();
    return { greeting: attempt === 1 ? "hello" : "hello again" };
  },
  fetch: app.fetch,
  dispose({ state }) {
    console.error(`goodbye after greeting ${state?.greeting}`);
  },
});
