/**
 * A second reference: plain Fastify (the framework Lab's server is built on, no plugins,
 * no hooks, no auth) answering with the same precomputed bytes and headers as bare.mjs. The
 * gap between it and bare node:http is the framework's own cost, a floor no route in Lab
 * can go under; the gap between Lab and it is Lab's per-request work.
 *
 *   node bench/api/fastify-bare.mjs ROUTES.json      prints "listening PORT" on stdout
 */
import { readFileSync } from "node:fs";
import Fastify from "fastify";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const app = Fastify({ logger: false });
for (const [path, r] of Object.entries(config.routes)) {
  const body = readFileSync(r.bodyFile);
  const type = Object.entries(r.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
  app.get(path, (_req, reply) => {
    reply.header("content-type", type);
    reply.send(body);
  });
}
const address = await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`listening ${new URL(address).port}\n`);
process.on("SIGTERM", () => app.close().then(() => process.exit(0)));
