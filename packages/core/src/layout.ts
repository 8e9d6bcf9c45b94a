/**
 * `layout:` — where the fleet physically is: racks, boards and shelves, and which server
 * sits where (labwatch's loadstatus page, generalised). A layout holds nodes (servers of the
 * model), devices that are not servers (a switch, a PDU) and other layouts (a board of
 * Raspberry Pis on a shelf). A node may declare the VMs or containers it runs (`guests`).
 *
 *   layout:
 *     rack-1:
 *       type: rack
 *       where: basement
 *       size: 12                       # rack units (board: slots; shelf: places)
 *       contains:
 *         - { device: core-switch, at: 12 }
 *         - { node: db-1, at: 10, height: 2 }
 *         - { layout: pi-board, at: 4 }
 *
 * The layout says only where things are; what they are doing (power, lifecycle, health)
 * comes from what Lab observes, and is "—" until something has.
 *
 * This module has no import from schema.ts at run time (schema.ts imports it), so the two
 * can be evaluated in either order.
 */
import { z } from "zod";
import { type Diagnostic, diagnostic, didYouMean, type Location } from "./errors.js";
import type { Model, Resource } from "./model.js";

const NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const name = z.string().regex(NAME, { error: "names are lower-case letters, digits, '-', '.' or '_'" });

export const LAYOUT_TYPES = ["rack", "board", "shelf"] as const;

export const layoutItemSchema = z
  .strictObject(
    {
      /** A server of the model. */
      node: name.optional(),
      /** Another layout, placed here (a board in a rack). */
      layout: name.optional(),
      /** Something that is not a server: a switch, a PDU, a UPS. */
      device: z.string().min(1).max(64).optional(),
      /** Where in the layout: the rack unit, the slot or the place (1 is the bottom or the left). */
      at: z.number().int().min(1).max(1000).optional(),
      /** How many units or slots it takes (default 1). */
      height: z.number().int().min(1).max(64).optional(),
      /** The VMs or containers this node runs, when they are servers of the model. */
      guests: z.array(name).max(1000).optional(),
    },
    { error: "expected a layout item: {node: NAME} or {device: TEXT} or {layout: NAME}, with at/height" },
  )
  .refine((i) => [i.node, i.layout, i.device].filter((x) => x !== undefined).length === 1, {
    error: "a layout item is exactly one of node, device or layout",
  });

export const layoutSchema = z.strictObject(
  {
    description: z.string().optional(),
    type: z.enum(LAYOUT_TYPES, { error: "expected rack, board or shelf" }),
    /** Where it stands (a room, a cupboard): shown, never interpreted. */
    where: z.string().max(128).optional(),
    /** Its capacity: rack units, board slots or shelf places. */
    size: z.number().int().min(1).max(1000).optional(),
    contains: z.array(layoutItemSchema).max(10_000).default([]),
  },
  { error: "expected a layout (type, where, size, contains)" },
);

export type LayoutItemSpec = z.infer<typeof layoutItemSchema>;
export type LayoutSpec = z.infer<typeof layoutSchema>;

type Locate = (r: Resource, path: (string | number)[]) => Location | undefined;

/**
 * What a schema cannot say about layouts: every node and guest is a server, every nested
 * layout exists and none contains itself, a server stands in one place only, and nothing
 * sits past the end of its rack or overlaps another item.
 */
export function validateLayouts(model: Model, locate: Locate): Diagnostic[] {
  const out: Diagnostic[] = [];
  const layouts = model.layout;
  const placedAt = new Map<string, string>();
  const nestedIn = new Map<string, string>();
  for (const r of layouts.values()) {
    const used = new Map<number, number>();
    r.spec.contains.forEach((item, i) => {
      if (item.node !== undefined) {
        if (!model.server.has(item.node)) {
          const hint = didYouMean(item.node, model.server.keys());
          out.push(
            diagnostic(
              "LAB_E_REF_SERVER",
              `layout "${r.name}" places server "${item.node}", which is not defined${hint ? ` (did you mean "${hint}"?)` : ""}`,
              locate(r, ["contains", i, "node"]),
            ),
          );
        }
        const before = placedAt.get(item.node);
        if (before !== undefined) {
          out.push(
            diagnostic(
              "LAB_E_LAYOUT_PLACE",
              `server "${item.node}" is placed twice: in layout "${before}" and in layout "${r.name}"`,
              locate(r, ["contains", i, "node"]),
            ),
          );
        } else placedAt.set(item.node, r.name);
      }
      for (const [g, guest] of (item.guests ?? []).entries()) {
        if (!model.server.has(guest)) {
          out.push(
            diagnostic(
              "LAB_E_REF_SERVER",
              `layout "${r.name}": "${item.node ?? item.device}" runs guest "${guest}", which is not a defined server`,
              locate(r, ["contains", i, "guests", g]),
            ),
          );
        }
      }
      if (item.layout !== undefined) {
        if (!layouts.has(item.layout)) {
          const hint = didYouMean(item.layout, layouts.keys());
          out.push(
            diagnostic(
              "LAB_E_REF_LAYOUT",
              `layout "${r.name}" contains layout "${item.layout}", which is not defined${hint ? ` (did you mean "${hint}"?)` : ""}`,
              locate(r, ["contains", i, "layout"]),
            ),
          );
        } else if (nestedIn.has(item.layout)) {
          out.push(
            diagnostic(
              "LAB_E_LAYOUT_PLACE",
              `layout "${item.layout}" is placed twice: in "${nestedIn.get(item.layout)}" and in "${r.name}"`,
              locate(r, ["contains", i, "layout"]),
            ),
          );
        } else nestedIn.set(item.layout, r.name);
      }
      if (item.at !== undefined) {
        const height = item.height ?? 1;
        const top = item.at + height - 1;
        if (r.spec.size !== undefined && top > r.spec.size) {
          out.push(
            diagnostic(
              "LAB_E_LAYOUT_PLACE",
              `layout "${r.name}" (size ${r.spec.size}): item ${i + 1} takes ${item.at}–${top}, past the end`,
              locate(r, ["contains", i, "at"]),
            ),
          );
        }
        for (let u = item.at; u <= top; u++) {
          const other = used.get(u);
          if (other !== undefined) {
            out.push(
              diagnostic(
                "LAB_E_LAYOUT_PLACE",
                `layout "${r.name}": items ${other + 1} and ${i + 1} both take position ${u}`,
                locate(r, ["contains", i, "at"]),
              ),
            );
            break;
          }
          used.set(u, i);
        }
      }
    });
  }
  // A layout that contains itself, directly or through others, has no picture.
  for (const start of layouts.keys()) {
    const seen: string[] = [];
    let at: string | undefined = start;
    while (at !== undefined && !seen.includes(at)) {
      seen.push(at);
      at = nestedIn.get(at);
    }
    if (at === start) {
      const r = layouts.get(start) as Resource<"layout">;
      out.push(
        diagnostic(
          "LAB_E_LAYOUT_CYCLE",
          `layouts contain each other in a cycle: ${[...seen, start].reverse().join(" → ")}`,
          locate(r, ["contains"]),
        ),
      );
      break; // one report per cycle is enough to fix it
    }
  }
  return out;
}

/** A layout as `lab get layout` lists it and the dashboard draws it. */
export interface LayoutRow {
  name: string;
  type: (typeof LAYOUT_TYPES)[number];
  where: string | null;
  size: number | null;
  /** The layout this one is placed in, if any. */
  parent: string | null;
  nodes: number;
  items: {
    kind: "node" | "device" | "layout";
    name: string;
    at: number | null;
    height: number;
    guests: string[];
  }[];
  description: string | null;
}

export function layoutRows(model: Model): LayoutRow[] {
  const parent = new Map<string, string>();
  for (const r of model.layout.values()) {
    for (const item of r.spec.contains) if (item.layout) parent.set(item.layout, r.name);
  }
  return [...model.layout.values()].map(({ name: n, spec }) => ({
    name: n,
    type: spec.type,
    where: spec.where ?? null,
    size: spec.size ?? null,
    parent: parent.get(n) ?? null,
    nodes: spec.contains.filter((i) => i.node !== undefined).length,
    items: spec.contains.map((i) => ({
      kind: i.node !== undefined ? "node" : i.layout !== undefined ? "layout" : "device",
      name: (i.node ?? i.layout ?? i.device) as string,
      at: i.at ?? null,
      height: i.height ?? 1,
      guests: i.guests ?? [],
    })),
    description: spec.description ?? null,
  }));
}
