import { describe, expect, it } from "vitest";
import { decodeFleetTable, encodeFleetTable } from "./fleet-table.js";
import { type ServerRow, unobservedPillars } from "./views.js";

const row = (name: string, over: Partial<ServerRow> = {}): ServerRow => ({
  name,
  provider: "proxmox",
  labels: ["k8s-worker", "postgres"],
  environment: "prod",
  region: null,
  size: null,
  host: `${name}.lab`,
  mac: null,
  groups: ["production"],
  status: unobservedPillars("proxmox"),
  ...over,
});

describe("the compact fleet table", () => {
  const cases: { name: string; rows: ServerRow[] }[] = [
    { name: "no servers", rows: [] },
    { name: "one server", rows: [row("db-1")] },
    {
      name: "nulls, empty lists and distinct pillars",
      rows: [
        row("a", { environment: null, host: null, labels: [], groups: [] }),
        row("b", {
          region: "eu-west",
          size: "large",
          mac: "52:54:00:00:00:01",
          status: { ...unobservedPillars("xcpng"), health: { state: "ok", text: "✓" } },
        }),
      ],
    },
  ];
  for (const c of cases) {
    it(`round-trips ${c.name}`, () => {
      expect(decodeFleetTable(JSON.parse(JSON.stringify(encodeFleetTable(c.rows))))).toEqual(c.rows);
    });
  }

  it("writes each repeated string and pillar once", () => {
    const rows = Array.from({ length: 1000 }, (_, i) => row(`w-${i}`));
    const t = encodeFleetTable(rows);
    expect(t.strings).toEqual(["proxmox", "prod", "k8s-worker", "postgres", "production"]);
    expect(t.pillars.length).toBe(4);
    expect(JSON.stringify(t).length).toBeLessThan(JSON.stringify(rows).length / 5);
  });

  it("refuses a version it does not know", () => {
    const t = { ...encodeFleetTable([]), v: 2 } as unknown as Parameters<typeof decodeFleetTable>[0];
    expect(() => decodeFleetTable(t)).toThrow(/version 2/);
  });
});
