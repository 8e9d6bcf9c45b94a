/** The `lab` executable. */
import { readFileSync } from "node:fs";
import { VERSION } from "./version.js";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  // Needs nothing else: the command line (and the engine it loads) stays unread.
  process.stdout.write(`${VERSION}\n`);
} else {
  const { run } = await import("./program.js");
  process.exitCode = await run(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdin: () => readFileSync(0, "utf8"),
  });
}
