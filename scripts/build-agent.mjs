// Builds the agent for machines without Node: dist/agent/
//   lab-agent.cjs   the agent and all its dependencies in one CommonJS file
//   lab-agent       the executable: a Node single-executable application (SEA) when
//                   `postject` is installed, otherwise a two-line launcher for `node` (this
//                   machine's binary, copied beside it: Debian targets share its glibc) + bundle
//   lab-agent.service
//   lab-agent-<version>-linux-<arch>.tar.gz  everything, for copying over (with --tarball)
// Usage: node scripts/build-agent.mjs [--tarball]
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { build } from "esbuild";

const OUT = "dist/agent";
const VERSION = "0.1.0";
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

await build({
  entryPoints: ["packages/agent/src/main.ts"],
  outfile: join(OUT, "lab-agent.cjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  // CommonJS: what a Node 20 single-executable application can run.
  format: "cjs",
  minify: true,
  legalComments: "none",
  // ws loads these native speed-ups only if present; the agent does not need them.
  external: ["bufferutil", "utf-8-validate"],
  logLevel: "warning",
});

const postject = findPostject();
const exe = join(OUT, "lab-agent");
let kind;
if (postject) {
  // Node 20 SEA: a blob of the bundle injected into a copy of the node binary.
  const config = join(OUT, "sea-config.json");
  const blob = join(OUT, "sea-prep.blob");
  writeFileSync(
    config,
    JSON.stringify({ main: join(OUT, "lab-agent.cjs"), output: blob, disableExperimentalSEAWarning: true }),
  );
  execFileSync(process.execPath, ["--experimental-sea-config", config], { stdio: "inherit" });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  execFileSync(
    process.execPath,
    [
      postject,
      exe,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
    ],
    {
      stdio: "inherit",
    },
  );
  rmSync(config);
  rmSync(blob);
  kind = "single executable (Node SEA)";
} else {
  copyFileSync(process.execPath, join(OUT, "node"));
  chmodSync(join(OUT, "node"), 0o755);
  writeFileSync(
    exe,
    '#!/bin/sh\n# lab-agent: the bundled agent on the node binary shipped next to it.\nhere=$(dirname "$(readlink -f "$0")")\nexec "$here/node" "$here/lab-agent.cjs" "$@"\n',
  );
  chmodSync(exe, 0o755);
  kind = "launcher + node + bundle (install postject for a single executable)";
}
copyFileSync("deploy/lab-agent.service", join(OUT, "lab-agent.service"));

const files = ["lab-agent", "lab-agent.cjs", ...(postject ? [] : ["node"]), "lab-agent.service"];
if (process.argv.includes("--tarball")) {
  const tarball = `lab-agent-${VERSION}-linux-${process.arch}.tar.gz`;
  execFileSync("tar", ["-czf", join(OUT, tarball), "-C", OUT, ...files]);
  files.push(tarball);
}

const size = (f) => `${(statSync(join(OUT, f)).size / 1048576).toFixed(1)} MiB`;
console.log(`dist/agent/lab-agent: ${kind}`);
for (const f of files) console.log(`  ${f.padEnd(36)} ${size(f)}`);

function findPostject() {
  try {
    return createRequire(import.meta.url).resolve("postject/dist/cli.js");
  } catch {
    const bin = "node_modules/postject/dist/cli.js";
    return existsSync(bin) ? bin : undefined;
  }
}
