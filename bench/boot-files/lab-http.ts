/**
 * Lab's boot-file HTTP path for the benchmark: node:http + safeJoin + serveFile, as `lab server`
 * serves /pxe/v1/images/…. Usage: node lab-http.mjs ROOT PORT [nocache] (prints "listening PORT");
 * "nocache" streams every request from disk instead of the memory cache of hot files.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { safeJoin, serveFile } from "../../packages/pxe/src/files.js";

const [root = ".", port = "0", mode = ""] = process.argv.slice(2);
const opts = mode === "nocache" ? { cache: false as const } : {};
const server = createServer((req, res) => {
  const abs = safeJoin(root, (req.url ?? "/").split("?")[0] ?? "/");
  if (!abs) {
    res.writeHead(404, { "Content-Length": 0 });
    res.end();
    return;
  }
  void serveFile(req, res, abs, opts);
});
server.listen(Number(port), "127.0.0.1", () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
process.on("SIGTERM", () => process.exit(0));
