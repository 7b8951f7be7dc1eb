// The seed's scenario: init takes 1000 ms (standing in for opening a
// database), requests are cheap. Used by bench/recycle.ts.
export default {
  async init({ signal }) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 1000);
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
};
