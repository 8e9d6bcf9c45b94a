/**
 * Lab's TFTP server for the benchmark. Usage: node lab-tftp.mjs ROOT ADDRESS PORT
 * (prints "listening PORT"; one JSON line per finished transfer on stdout).
 */
import { TftpServer } from "../../packages/pxe/src/tftp/index.js";

const [root = ".", host = "127.0.0.1", port = "69"] = process.argv.slice(2);
const server = new TftpServer({
  root,
  host,
  port: Number(port),
  onEvent: (e) => {
    if (e.status !== "start") console.log(JSON.stringify(e));
  },
});
const { port: bound } = await server.start();
console.log(`listening ${bound}`);
process.on("SIGTERM", () => {
  server.close().finally(() => process.exit(0));
});
