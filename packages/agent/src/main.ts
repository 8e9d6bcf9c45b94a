/**
 * The standalone `lab-agent` executable (bundled by scripts/build-agent.mjs as CommonJS, so
 * the same file also runs as a Node single-executable application: no top-level await).
 */
import { agentMain } from "./cli.js";

void agentMain(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code;
});
