import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildBundle, dependencyClosure, installRoot, RUNTIME_EXTERNALS } from "./bundle.js";

const ROOT = join(import.meta.dirname, "../../../..");

describe("the bundle lab server migrate deploys", () => {
  it("carries every package the build leaves external (the optional ones are not installed)", () => {
    const build = readFileSync(join(ROOT, "scripts/build.mjs"), "utf8");
    const listed = JSON.parse(
      (/external: (\[[^\]]*\])/.exec(build)?.[1] ?? "[]").replace(/'/g, '"'),
    ) as string[];
    const optional = ["pg-native", "react-devtools-core"];
    expect(listed.filter((n) => !optional.includes(n)).sort()).toEqual([...RUNTIME_EXTERNALS].sort());
  });

  it("finds Lab's root from its own code", () => {
    expect(installRoot()).toBe(ROOT);
  });

  it("holds the CLI, the dashboard and the native module with what they require", () => {
    const b = buildBundle({ root: ROOT, withNode: false });
    const paths = new Set(b.files.map((f) => f.path));
    for (const p of [
      "package.json",
      "bin/lab.js",
      "dist/lab.js",
      "node_modules/better-sqlite3/package.json",
    ]) {
      expect(paths.has(p), p).toBe(true);
    }
    expect(
      [...paths].some(
        (p) => p.startsWith("node_modules/better-sqlite3/build/Release/") && p.endsWith(".node"),
      ),
    ).toBe(true);
    expect(dependencyClosure(ROOT, ["better-sqlite3"])).toEqual(
      expect.arrayContaining(["better-sqlite3", "bindings"]),
    );
    // Nothing of the development tree: no vitest, no TypeScript sources of the packages.
    expect(
      [...paths].some((p) => p.startsWith("node_modules/vitest/") || p.startsWith("packages/core/")),
    ).toBe(false);
    expect(b.withNode).toBe(false);
    expect(buildBundle({ root: ROOT, withNode: true }).files.some((f) => f.path === "node")).toBe(true);
  });
});
