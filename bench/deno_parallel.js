// The handler for `deno serve --parallel` (DENO_JOBS threads over one socket).
export default {
  fetch() {
    return new Response(`hello from ${Deno.pid}\n`, { headers: { "content-type": "text/plain" } });
  },
};
