/**
 * What `lab server migrate` installs on a host: this Lab as `npm pack` would ship it (the
 * package.json `files`: bin/, dist/, examples/, docs/, the PXE assets), plus the run-time
 * dependencies the bundle leaves external (native better-sqlite3, pg, ssh2 and what they
 * require) from this machine's node_modules, plus — when the host has no Node that can load
 * those native modules — this machine's node binary.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError } from "@lab/core";

/** The packages scripts/build.mjs keeps out of dist/ (resolved from node_modules at run time). */
export const RUNTIME_EXTERNALS = ["better-sqlite3", "pg", "ssh2"];

export interface BundleFile {
  /** Path inside the release directory. */
  path: string;
  /** Where it is on this machine. */
  source: string;
  bytes: number;
}

export interface Bundle {
  root: string;
  version: string;
  files: BundleFile[];
  bytes: number;
  /** Names, sizes and modification times hashed: a rebuilt Lab is a new release. */
  id: string;
  /** Whether this machine's node binary is in it (as `node`). */
  withNode: boolean;
}

/** The installed Lab's root: the directory of the package.json named "lab" above this code. */
export function installRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "lab") return dir;
      } catch {
        // not ours: keep climbing
      }
    }
    const up = dirname(dir);
    if (up === dir) {
      throw new LabError("LAB_E_MIGRATE_SOURCE", `cannot find Lab's package.json above ${from}`);
    }
    dir = up;
  }
}

function walkFiles(root: string, rel: string, out: BundleFile[], prefix = ""): void {
  const full = join(root, rel);
  if (!existsSync(full)) return;
  const st = statSync(full);
  if (st.isFile()) {
    out.push({ path: join(prefix, rel), source: full, bytes: st.size });
    return;
  }
  for (const e of readdirSync(full).sort()) walkFiles(root, join(rel, e), out, prefix);
}

/** The run-time dependency closure of `names` in root/node_modules (hoisted, as npm installs). */
export function dependencyClosure(root: string, names: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name)) continue;
    const pkgJson = join(root, "node_modules", name, "package.json");
    // Optional dependencies that were not installed (pg-native, cpu-features) are not needed.
    if (!existsSync(pkgJson)) continue;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(pkgJson, "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    queue.push(...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}));
  }
  return [...seen].sort();
}

export function buildBundle(opts: { root?: string; withNode: boolean; nodeBinary?: string }): Bundle {
  const root = opts.root ?? installRoot();
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    version: string;
    files?: string[];
  };
  if (!existsSync(join(root, "dist", "lab.js"))) {
    throw new LabError("LAB_E_MIGRATE_SOURCE", `${root}/dist/lab.js is missing: run npm run build first`);
  }
  const files: BundleFile[] = [];
  walkFiles(root, "package.json", files);
  for (const entry of pkg.files ?? []) walkFiles(root, entry.replace(/\/$/, ""), files);
  for (const dep of dependencyClosure(root, RUNTIME_EXTERNALS)) {
    walkFiles(root, join("node_modules", dep), files);
  }
  if (opts.withNode) {
    const node = opts.nodeBinary ?? process.execPath;
    files.push({ path: "node", source: node, bytes: statSync(node).size });
  }
  const h = createHash("sha256");
  for (const f of files) h.update(`${f.path}\0${f.bytes}\0${statSync(f.source).mtimeMs}\n`);
  return {
    root,
    version: pkg.version,
    files,
    bytes: files.reduce((n, f) => n + f.bytes, 0),
    id: `${pkg.version}-${h.digest("hex").slice(0, 12)}`,
    withNode: opts.withNode,
  };
}

/** The files grouped by source directory, as `tar -C DIR name…` wants them. */
export function tarArgs(bundle: Bundle): string[] {
  const args: string[] = [];
  for (const f of bundle.files) {
    if (f.path === "node") continue;
    args.push(relative(bundle.root, f.source));
  }
  return args;
}
