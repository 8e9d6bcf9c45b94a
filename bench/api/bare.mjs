/**
 * The baseline: a bare `node:http` server answering every GET with precomputed bytes, the
 * runtime's own limit for "serve this JSON". Routes come from a JSON file written by run.mjs:
 *
 *   {"routes": {"/api/v1/servers/x": {"headers": {...}, "bodyFile": "…"}}, "keepAliveTimeout": 72000}
 *
 * The headers are the ones Lab sent (content-type, content-length; node adds Date, Connection
 * and Keep-Alive itself, the same as under Fastify), so both servers put the same bytes on the
 * wire. There is no authentication, no routing library, no serialization: nothing to beat.
 *
 *   node bench/api/bare.mjs ROUTES.json      prints "listening PORT" on stdout
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const routes = new Map();
for (const [path, r] of Object.entries(config.routes)) {
  routes.set(path, { headers: Object.entries(r.headers).flat(), body: readFileSync(r.bodyFile) });
}
const notFound = Buffer.from('{"error":{"code":"LAB_E_NOT_FOUND"}}');

const server = createServer((req, res) => {
  const r = routes.get(req.url);
  if (!r) {
    res.writeHead(404, [
      "content-type",
      "application/json; charset=utf-8",
      "content-length",
      notFound.length,
    ]);
    res.end(notFound);
    return;
  }
  res.writeHead(200, r.headers);
  res.end(r.body);
});
// Fastify's default, so the Keep-Alive header is the same length.
server.keepAliveTimeout = config.keepAliveTimeout ?? 72_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
