import { describe, expect, it } from "vitest";
import { apiQuery, matchesText, parseQuery } from "./query.js";
import { visibleRange } from "./virtual.js";

describe("the fleet filter", () => {
  const cases: [string, string, string, string[]][] = [
    ["empty", "", "", []],
    ["one label", "label:k8s-worker", "?label=k8s-worker", []],
    [
      "aliases and any-of",
      "l:a,b env:prod region:eu-west",
      "?label=a%2Cb&environment=prod&region=eu-west",
      [],
    ],
    ["repeated key is any-of", "group:x group:y", "?group=x%2Cy", []],
    ["exclusion by minus and key", "-db-2 exclude:db-3", "?exclude=db-2%2Cdb-3", []],
    ["free text", "worker EU", "", ["worker", "eu"]],
    ["unknown key is free text", "rack:r1", "", ["rack:r1"]],
  ];
  for (const [name, input, query, text] of cases) {
    it(name, () => {
      const q = parseQuery(input);
      expect(apiQuery(q)).toBe(query);
      expect(q.text).toEqual(text);
    });
  }

  it("free text needs every word, in the name, host or labels", () => {
    const row = { name: "worker-5", host: "10.0.1.5", labels: ["k8s-worker", "eu-west"] };
    expect(matchesText(row, ["worker", "eu-west"])).toBe(true);
    expect(matchesText(row, ["10.0.1"])).toBe(true);
    expect(matchesText(row, ["worker", "db"])).toBe(false);
  });
});

describe("the virtualised list's window", () => {
  it("renders what is on screen plus the overscan, never past the ends", () => {
    expect(visibleRange(0, 340, 34, 10_000, 8)).toEqual({ start: 0, end: 19 });
    expect(visibleRange(34 * 5000, 340, 34, 10_000, 8)).toEqual({ start: 4992, end: 5019 });
    expect(visibleRange(34 * 10_000, 340, 34, 10_000, 8)).toEqual({ start: 9991, end: 10_000 });
    expect(visibleRange(0, 340, 34, 0)).toEqual({ start: 0, end: 0 });
  });
});
