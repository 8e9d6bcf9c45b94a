import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CATALOGUE, didYouMean, LabError } from "./errors.js";

describe("the error catalogue", () => {
  // Rows of the table in docs/errors.md (regenerate it with `node scripts/errors-doc.mjs`).
  const rows = new Map(
    readFileSync(join(import.meta.dirname, "../../../docs/errors.md"), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("| `LAB_"))
      .map((l) => l.split("|").map((c) => c.trim()))
      .map((cells) => [cells[1]?.replaceAll("`", ""), cells.slice(2, 5)]),
  );
  for (const [code, info] of Object.entries(CATALOGUE)) {
    it(`${code} is documented with its hint`, () => {
      expect(rows.get(code)).toEqual([String(info.exit), String(info.http), info.hint]);
    });
  }

  it("gives LabErrors their status, exit code and hint from the code", () => {
    const e = new LabError("LAB_E_NOT_FOUND", "x");
    expect([e.httpStatus, e.exitCode, e.hint]).toEqual([404, 3, CATALOGUE.LAB_E_NOT_FOUND.hint]);
  });

  it("suggests close names only", () => {
    expect(didYouMean("prodution", ["production", "staging"])).toBe("production");
    expect(didYouMean("worker5", ["worker-5", "worker-50"])).toBe("worker-5");
    expect(didYouMean("zzz", ["production"])).toBeUndefined();
  });
});
