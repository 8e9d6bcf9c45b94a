// The naive baseline: fs.createReadStream with its defaults piped into the response.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const [root = ".", port = "0"] = process.argv.slice(2);
const server = createServer((req, res) => {
  const path = join(root, decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/"));
  let size;
  try {
    size = statSync(path).size;
  } catch {
    res.writeHead(404, { "Content-Length": 0 });
    res.end();
    return;
  }
  res.writeHead(200, { "Content-Length": size, "Content-Type": "application/octet-stream" });
  createReadStream(path).pipe(res);
});
server.listen(Number(port), "127.0.0.1", () => console.log(`listening ${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
