// Bundles the CLI into dist/lab.js: one file that starts fast. Native and driver packages
// stay external and are resolved from node_modules at run time.
import { rmSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry hashes: start clean so stale chunks never ship.
rmSync("dist", { recursive: true, force: true });

await build({
  entryPoints: ["packages/cli/src/bin.ts"],
  outdir: "dist",
  entryNames: "lab",
  chunkNames: "chunks/[name]-[hash]",
  // The daemon (Fastify, X.509) is a separate chunk, loaded only by `lab server`.
  splitting: true,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: "linked",
  // react-devtools-core: Ink loads it only when DEV=true; it is not a dependency.
  external: ["better-sqlite3", "pg", "pg-native", "ssh2", "react-devtools-core"],
  // CommonJS dependencies bundled into ESM still call require().
  banner: {
    js: "import { createRequire as __labRequire } from 'node:module'; const require = __labRequire(import.meta.url);",
  },
  logLevel: "warning",
});

// The agent executable that `lab onboard --provider ssh` installs on machines without Node.
await import("./build-agent.mjs");

// The dashboard that `lab server` serves at /.
await import("./build-web.mjs");
