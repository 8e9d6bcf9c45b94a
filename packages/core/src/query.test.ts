import { describe, expect, it } from "vitest";
import * as dashboard from "../../web/src/app/query.js";
import { hasKeys, matchesText, parseQuery, queryFilter } from "./query.js";

const cases: { name: string; input: string; filter: ReturnType<typeof queryFilter>; text: string[] }[] = [
  { name: "empty", input: "  ", filter: {}, text: [] },
  {
    name: "keys, aliases and comma lists",
    input: "label:k8s-worker,postgres g:production env:prod region:eu-west",
    filter: {
      labels: ["k8s-worker", "postgres"],
      groups: ["production"],
      environments: ["prod"],
      regions: ["eu-west"],
    },
    text: [],
  },
  {
    name: "exclusions by dash and by key",
    input: "-db-2 x:worker-3 exclude:a,b",
    filter: { exclude: ["db-2", "worker-3", "a", "b"] },
    text: [],
  },
  {
    name: "free text is lower-cased; unknown keys are text",
    input: "Worker os:linux",
    filter: {},
    text: ["worker", "os:linux"],
  },
];

describe("parseQuery", () => {
  for (const c of cases) {
    it(c.name, () => {
      const q = parseQuery(c.input);
      expect(queryFilter(q)).toEqual(c.filter);
      expect(q.text).toEqual(c.text);
      expect(hasKeys(q)).toBe(Object.keys(c.filter).length > 0);
    });
    it(`${c.name}: the dashboard's copy parses alike`, () => {
      expect(dashboard.parseQuery(c.input)).toEqual(parseQuery(c.input));
    });
  }

  it("matches free text against name, host and labels", () => {
    const row = { name: "db-1", host: "10.0.0.5", labels: ["postgres"] };
    expect(matchesText(row, ["db", "postgres"])).toBe(true);
    expect(matchesText(row, ["10.0.0"])).toBe(true);
    expect(matchesText(row, ["mysql"])).toBe(false);
  });
});
