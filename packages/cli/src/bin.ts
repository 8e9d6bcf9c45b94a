/** The `lab` executable. */
import { readFileSync } from "node:fs";
import { run } from "./program.js";

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stdin: () => readFileSync(0, "utf8"),
});
process.exitCode = code;
