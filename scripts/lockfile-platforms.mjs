// Adds lockfile entries for other platforms' optional binaries (biome, esbuild, rollup, …).
//
// Why: this machine's npm registry mirror serves only linux-x64 builds, so `npm install`
// cannot record the other platforms' optional packages, and `npm ci` then refuses the lock
// file ("Missing: @biomejs/cli-darwin-arm64@ from lock file"). The entries added here carry
// the os/cpu/libc constraints npm reads from the names, so every platform skips them exactly
// as it would skip a complete entry. Run after changing dependencies:
//   npm install && node scripts/lockfile-platforms.mjs
import { readFileSync, writeFileSync } from "node:fs";

const OS = [
  "aix",
  "android",
  "darwin",
  "freebsd",
  "linux",
  "netbsd",
  "openbsd",
  "openharmony",
  "sunos",
  "win32",
  "cygwin",
];
const CPU = [
  "arm64",
  "arm",
  "x64",
  "ia32",
  "ppc64",
  "riscv64",
  "s390x",
  "loong64",
  "mips64el",
  "wasm32",
  "mipsel",
  "ppc",
  "loong",
];

function platformOf(name) {
  const base = name
    .split("/")
    .pop()
    .replace(/^(cli|rollup|binding|esbuild)-/, "");
  const parts = base.split("-");
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p) || p === "loongarch64" || p === "riscv64");
  if (!os || !cpu) return undefined;
  const libc = parts.includes("musl")
    ? ["musl"]
    : parts.includes("gnu") || (os === "linux" && parts.includes("gnueabihf"))
      ? ["glibc"]
      : undefined;
  const cpuName = cpu === "loongarch64" ? "loong64" : cpu;
  return { os: [os === "cygwin" ? "win32" : os], cpu: [cpuName], ...(libc ? { libc } : {}) };
}

const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
let added = 0;
for (const [path, entry] of Object.entries({ ...lock.packages })) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const where = `node_modules/${dep}`;
    if (lock.packages[where] || lock.packages[`${path}/${where}`]) continue;
    const platform = platformOf(dep);
    if (!platform) continue;
    lock.packages[where] = { version, dev: entry.dev, optional: true, ...platform };
    if (!entry.dev) delete lock.packages[where].dev;
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
);
writeFileSync("package-lock.json", `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-platforms: added ${added} entries for other platforms' optional packages`);
