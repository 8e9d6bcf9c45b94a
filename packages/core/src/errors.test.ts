import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CATALOGUE, didYouMean, LabError } from "./errors.js";

describe("the error catalogue", () => {
  const doc = readFileSync(join(import.meta.dirname, "../../../docs/errors.md"), "utf8");
  for (const [code, info] of Object.entries(CATALOGUE)) {
    it(`${code} is documented with its hint`, () => {
      expect(doc).toContain(`| \`${code}\` | ${info.exit} | ${info.http} | ${info.hint} |`);
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
