import { describe, expect, it } from "vitest";
import { layoutRows } from "./layout.js";
import { parseSources } from "./parse.js";
import { validateModel } from "./validate.js";

const servers = `
servers:
  db-1: { provider: baremetal }
  db-2: { provider: baremetal }
  vm-1: { provider: xcpng }
`;

function check(layout: string) {
  const parsed = parseSources([
    { path: "servers.yaml", text: servers },
    { path: "layout.yaml", text: layout },
  ]);
  return { parsed, diagnostics: [...parsed.diagnostics, ...validateModel(parsed.model, parsed.locate)] };
}

describe("the layout kind", () => {
  it("reads racks, shelves and boards with nodes, devices, nested layouts and guests", () => {
    const { parsed, diagnostics } = check(`
layout:
  rack-1:
    type: rack
    where: basement
    size: 6
    contains:
      - { device: switch, at: 6 }
      - { node: db-1, at: 4, height: 2, guests: [vm-1] }
      - { layout: pi-board, at: 1 }
  pi-board:
    type: board
    contains:
      - { node: db-2 }
`);
    expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const rows = layoutRows(parsed.model);
    expect(rows.map((r) => [r.name, r.type, r.parent, r.nodes])).toEqual([
      ["rack-1", "rack", null, 1],
      ["pi-board", "board", "rack-1", 1],
    ]);
    expect(rows[0]?.items[1]).toEqual({ kind: "node", name: "db-1", at: 4, height: 2, guests: ["vm-1"] });
  });

  const bad: { name: string; yaml: string; code: string; message: RegExp; line?: number }[] = [
    {
      name: "an unknown server, with a suggestion",
      yaml: "layout:\n  r:\n    type: rack\n    contains:\n      - { node: db-3 }\n",
      code: "LAB_E_REF_SERVER",
      message: /places server "db-3", which is not defined \(did you mean "db-1"\?\)/,
      line: 5,
    },
    {
      name: "an unknown guest",
      yaml: "layout:\n  r:\n    type: rack\n    contains:\n      - { device: hv, guests: [vm-9] }\n",
      code: "LAB_E_REF_SERVER",
      message: /runs guest "vm-9"/,
    },
    {
      name: "an unknown nested layout",
      yaml: "layout:\n  r:\n    type: rack\n    contains:\n      - { layout: shelf-9 }\n",
      code: "LAB_E_REF_LAYOUT",
      message: /contains layout "shelf-9", which is not defined/,
    },
    {
      name: "a server in two places",
      yaml: "layout:\n  a:\n    type: rack\n    contains: [{ node: db-1 }]\n  b:\n    type: shelf\n    contains: [{ node: db-1 }]\n",
      code: "LAB_E_LAYOUT_PLACE",
      message: /server "db-1" is placed twice: in layout "a" and in layout "b"/,
    },
    {
      name: "an item past the end of its rack",
      yaml: "layout:\n  r:\n    type: rack\n    size: 4\n    contains:\n      - { node: db-1, at: 4, height: 2 }\n",
      code: "LAB_E_LAYOUT_PLACE",
      message: /takes 4–5, past the end/,
    },
    {
      name: "two items in one rack unit",
      yaml: "layout:\n  r:\n    type: rack\n    contains:\n      - { node: db-1, at: 2, height: 2 }\n      - { node: db-2, at: 3 }\n",
      code: "LAB_E_LAYOUT_PLACE",
      message: /items 1 and 2 both take position 3/,
    },
    {
      name: "layouts that contain each other",
      yaml: "layout:\n  a:\n    type: rack\n    contains: [{ layout: b }]\n  b:\n    type: board\n    contains: [{ layout: a }]\n",
      code: "LAB_E_LAYOUT_CYCLE",
      message: /cycle: .*a.*b.*a|cycle: .*b.*a.*b/,
    },
    {
      name: "an item that is two things at once",
      yaml: "layout:\n  r:\n    type: rack\n    contains:\n      - { node: db-1, device: switch }\n",
      code: "LAB_E_SCHEMA_VALUE",
      message: /exactly one of node, device or layout/,
    },
    {
      name: "an unknown type",
      yaml: "layout:\n  r:\n    type: cupboard\n",
      code: "LAB_E_SCHEMA_VALUE",
      message: /expected rack, board or shelf/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}`, () => {
      const { diagnostics } = check(c.yaml);
      const hit = diagnostics.find((d) => c.message.test(d.message));
      expect(hit, JSON.stringify(diagnostics.map((d) => [d.code, d.message]))).toBeDefined();
      if (c.code !== "LAB_E_SCHEMA_VALUE") expect(hit?.code).toBe(c.code);
      if (c.line) expect(hit?.location).toMatchObject({ file: "layout.yaml", line: c.line });
    });
  }
});
