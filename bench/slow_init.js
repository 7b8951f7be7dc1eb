// The seed's scenario: init takes 1000 ms (standing in for opening a
// database; BENCH_INIT_MS changes it), requests are cheap. BENCH_WARMUP_MS
// gives the app a warm-up of that many milliseconds (rota runs "/" through
// fetch before a replacement takes connections).
import process from "node:process";

const initMs = Number(process.env.BENCH_INIT_MS ?? 1000);
const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 0);

export default {
  async init({ signal }) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, initMs);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
    return { openedAt: Date.now() };
  },
  fetch(_request, env) {
    return new Response(`hello from ${env.worker.pid}\n`, { headers: { "content-type": "text/plain" } });
  },
  ...(warmupMs > 0 ? { warmup: { requests: ["/"], duration: warmupMs } } : {}),
};
