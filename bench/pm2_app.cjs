// The same scenario as a PM2 user writes it: init (1000 ms) before listen, and,
// since PM2 has no max-requests, the app leaves by itself after MAX_REQUESTS
// answers: the last answer carries Connection: close, the server stops
// accepting and the process exits once its connections are done. PM2 restarts it.
const http = require("node:http");

const max = Number(process.env.MAX_REQUESTS || 0);
let answered = 0;

setTimeout(() => {
  const server = http.createServer((_request, response) => {
    answered++;
    const leaving = max > 0 && answered >= max;
    response.writeHead(200, { "content-type": "text/plain", ...(leaving ? { connection: "close" } : {}) });
    response.end(`hello from ${process.pid}\n`);
    if (leaving && answered === max) server.close(() => process.exit(0));
  });
  server.listen(Number(process.env.PORT), "127.0.0.1");
}, 1000);
