import { describe, expect, it } from "vitest";
import { parseSources } from "./parse.js";
import {
  DEFAULT_PRICES,
  estimate,
  formatMonthly,
  HOURS_PER_MONTH,
  parsePriceFile,
  priceRows,
  priceTables,
} from "./prices.js";

const modelOf = (text: string) => {
  const r = parseSources([{ path: "p.yaml", text }]);
  expect(r.diagnostics).toEqual([]);
  return r.model;
};

describe("price tables", () => {
  it("ships a dated aws us-east-1 default covering the example sizes' instance types", () => {
    const aws = DEFAULT_PRICES.aws;
    expect(aws?.as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(aws?.region).toBe("us-east-1");
    for (const t of ["t3.medium", "t3.large", "m6i.2xlarge"]) expect(aws?.hourly[t]).toBeGreaterThan(0);
  });

  it("has no table for providers nobody priced: no estimate, never 0", () => {
    const tables = priceTables(modelOf("labels: {a: {}}\n"));
    expect(tables.map((t) => t.provider)).toEqual(["aws"]);
    expect(estimate(tables, "libvirt", ["medium"])).toBeNull();
    expect(estimate(tables, "aws", ["t9.huge"])).toBeNull();
    expect(estimate(tables, "aws", [null, null])).toBeNull();
  });

  it.each([
    ["t3.large", 0.0832, 60.736, "~$61/mo"],
    ["t3.medium", 0.0416, 30.368, "~$30/mo"],
    ["m6i.2xlarge", 0.384, 280.32, "~$280/mo"],
  ])("%s: %f/h is %f a month (hourly × 730)", (type, hourly, monthly, words) => {
    const e = estimate(priceTables(modelOf("labels: {a: {}}\n")), "aws", [type]);
    expect(e).toMatchObject({ key: type, hourly, currency: "USD", source: "default", region: "us-east-1" });
    expect(e?.monthly).toBeCloseTo(monthly, 6);
    expect(e && formatMonthly(e)).toBe(words);
  });

  it("formats other currencies with their symbol or their code", () => {
    expect(formatMonthly({ monthly: 7.3, currency: "EUR" })).toBe("~€7/mo");
    expect(formatMonthly({ monthly: 12.6, currency: "CHF" })).toBe("~13 CHF/mo");
  });

  it("the model's table replaces the default whole; a --prices file replaces both", () => {
    const model = modelOf(
      "prices:\n  aws: {as_of: 2026-01-15, region: eu-west-1, hourly: {t3.large: 0.0912}}\n  libvirt: {as_of: 2026-01-15, currency: EUR, hourly: {medium: 0.01}}\n",
    );
    const tables = priceTables(model);
    expect(tables.map((t) => [t.provider, t.source])).toEqual([
      ["aws", "model"],
      ["libvirt", "model"],
    ]);
    // The default's t3.medium is not mixed in: one table per provider, one date per estimate.
    expect(estimate(tables, "aws", ["t3.medium"])).toBeNull();
    expect(estimate(tables, "aws", ["t3.large"])).toMatchObject({ hourly: 0.0912, as_of: "2026-01-15" });
    // Instance type first, then the size's name.
    expect(estimate(tables, "libvirt", [null, "medium"])).toMatchObject({ key: "medium", currency: "EUR" });
    expect(tables[0]?.origin).toEqual({ file: "p.yaml", line: 2, column: 3 });

    const file = parsePriceFile({
      path: "f.yaml",
      text: "prices:\n  aws: {as_of: 2026-02-01, hourly: {t3.large: 0.1}}\n",
    });
    const over = priceTables(model, file);
    expect(estimate(over, "aws", ["t3.large"])).toMatchObject({ hourly: 0.1, source: "file" });
    expect(priceRows(over).find((r) => r.provider === "aws")?.monthly).toBeCloseTo(0.1 * HOURS_PER_MONTH, 9);
  });
});

describe("malformed prices are LAB_E_PRICES, located", () => {
  it.each([
    [
      "a price that is not a number",
      "prices:\n  aws:\n    as_of: 2026-01-01\n    hourly: {t3.large: cheap}\n",
      "f.yaml:4:24",
      /price per hour/,
    ],
    [
      "a negative price",
      "prices:\n  aws:\n    as_of: 2026-01-01\n    hourly: {t3.large: -1}\n",
      "f.yaml:4:24",
      /0 or more/,
    ],
    ["no date", "prices:\n  aws:\n    hourly: {t3.large: 0.1}\n", "f.yaml:", /as_of is required/],
    [
      "a date that is not one",
      "prices:\n  aws:\n    as_of: 2026-02-30\n    hourly: {t3.large: 0.1}\n",
      "f.yaml:3:12",
      /calendar date/,
    ],
    [
      "an empty table",
      "prices:\n  aws:\n    as_of: 2026-01-01\n    hourly: {}\n",
      "f.yaml:4:13",
      /at least one/,
    ],
    [
      "an unknown key",
      "prices:\n  aws:\n    as_of: 2026-01-01\n    hourly: {a: 1}\n    regoin: x\n",
      "f.yaml:5:5",
      /did you mean "region"/,
    ],
  ])("%s", (_name, text, where, message) => {
    let thrown: unknown;
    try {
      parsePriceFile({ path: "f.yaml", text });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toMatchObject({ code: "LAB_E_PRICES" });
    expect((thrown as Error).message).toContain(where);
    expect((thrown as Error).message).toMatch(message);
    // The same document in `lab apply -f` gets the same code.
    const applied = parseSources([{ path: "f.yaml", text }]).diagnostics;
    expect(applied.length).toBeGreaterThan(0);
    for (const d of applied) expect(d.code).toBe("LAB_E_PRICES");
  });

  it("a --prices file holds only prices:", () => {
    expect(() => parsePriceFile({ path: "f.yaml", text: "labels: {a: {}}\n" })).toThrow(
      expect.objectContaining({
        code: "LAB_E_PRICES",
        message: expect.stringMatching(/f\.yaml:1:\d+: a --prices file holds only prices:/),
      }),
    );
    expect(() => parsePriceFile({ path: "f.yaml", text: "# nothing\n" })).toThrow(
      expect.objectContaining({ code: "LAB_E_PRICES" }),
    );
  });
});
