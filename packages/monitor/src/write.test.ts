import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeRendered } from "./write.js";

describe("writeRendered", () => {
  it("reports changed, unchanged and removed files, and never touches files it did not write", () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-render-"));
    writeFileSync(join(dir, "mine-not.yaml"), "user's own file\n");
    const first = writeRendered(dir, [
      { path: "rules/a.yaml", content: "a\n" },
      { path: "rules/b.yaml", content: "b\n" },
    ]);
    expect(first).toEqual({ changed: ["rules/a.yaml", "rules/b.yaml"], unchanged: [], removed: [] });
    const second = writeRendered(dir, [
      { path: "rules/a.yaml", content: "a\n" },
      { path: "rules/c.yaml", content: "c\n" },
    ]);
    expect(second).toEqual({
      changed: ["rules/c.yaml"],
      unchanged: ["rules/a.yaml"],
      removed: ["rules/b.yaml"],
    });
    expect(existsSync(join(dir, "rules/b.yaml"))).toBe(false);
    expect(readFileSync(join(dir, "mine-not.yaml"), "utf8")).toBe("user's own file\n");
  });

  it("refuses a path outside the folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-render-"));
    expect(() => writeRendered(dir, [{ path: "../escape.yaml", content: "" }])).toThrow(
      /outside the output folder/,
    );
  });
});
