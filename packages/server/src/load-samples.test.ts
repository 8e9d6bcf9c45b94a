import { describe, expect, it } from "vitest";
import { loadReports } from "./load-samples.js";

describe("load samples as callbacks", () => {
  it.each([
    {
      name: "load and memory",
      hb: { load: [0.42, 0.3, 0.1], memory: { total: 1000, free: 250 } },
      want: [
        ["load.1m", 0.42],
        ["mem.used.pct", 75],
      ],
    },
    {
      name: "no load figures",
      hb: { load: [], memory: { total: 1000, free: 1000 } },
      want: [["mem.used.pct", 0]],
    },
    {
      name: "unknown memory total",
      hb: { load: [1.234], memory: { total: 0, free: 0 } },
      want: [["load.1m", 1.23]],
    },
  ])("$name", ({ hb, want }) => {
    const r = loadReports("vm-1", hb, 5000);
    expect(r.map((x) => [x.key, x.value])).toEqual(want);
    for (const x of r) expect(x).toMatchObject({ server: "vm-1", status: "ok", ttlSeconds: 30 });
  });
});
