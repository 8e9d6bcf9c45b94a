/**
 * Layout: a picture of the physical fleet (the model's `layout:` kind) — racks drawn unit by
 * unit from the top, boards and shelves left to right — with what Lab observes about each
 * node: power, lifecycle (the machine it network-boots), health, and the VMs it runs. A
 * value nobody has observed is "—", with the reason on hover. It follows the live link, so a
 * change shows without a reload.
 */

import type { LayoutRow, PillarState } from "@lab/core";
import { type FleetTable, fleetRow } from "@lab/core/fleet-table";
import { useMemo } from "preact/hooks";
import { useApi } from "../data.js";
import { href } from "../router.js";
import { ErrorBox, Loading, PillarCell } from "../ui.js";
import { fleetPath, MACHINES, type Machine } from "./fleet.js";

interface Observed {
  health: (name: string) => PillarState | undefined;
  machine: (name: string) => Machine | undefined;
  power: (name: string) => PowerRow | undefined;
}

/** One server's power as GET /api/v1/power reports it (asked of its driver just now). */
interface PowerRow {
  name: string;
  driver: string | null;
  state: string;
  detail: string | null;
  observedAt: string | null;
  error: { code: string; message: string } | null;
}

export function LayoutPage({ big }: { big?: boolean }) {
  const layouts = useApi<LayoutRow[]>("/layout");
  const table = useApi<FleetTable>(fleetPath(""));
  const machines = useApi<Machine[]>(MACHINES);
  // Only the servers the picture shows are asked (each answer is a driver round trip).
  const placed = useMemo(
    () =>
      [
        ...new Set(
          (layouts.data ?? []).flatMap((l) =>
            l.items.flatMap((i) => [...(i.kind === "node" ? [i.name] : []), ...i.guests]),
          ),
        ),
      ].sort(),
    [layouts.data],
  );
  const power = useApi<PowerRow[]>(placed.length ? `/power?name=${placed.join(",")}` : null);
  const observed = useMemo<Observed>(() => {
    const byPower = new Map((power.data ?? []).map((p) => [p.name, p]));
    const byName = new Map<string, number>();
    const t = table.data;
    if (t) for (let i = 0; i < t.count; i++) byName.set(t.name[i] as string, i);
    const m = new Map<string, Machine>();
    for (const x of machines.data ?? []) if (x.name) m.set(x.name, x);
    return {
      health: (name) => {
        const i = byName.get(name);
        return t && i !== undefined ? fleetRow(t, i).status.health : undefined;
      },
      machine: (name) => m.get(name),
      power: (name) => byPower.get(name),
    };
  }, [table.data, machines.data, power.data]);

  if (layouts.error) return <ErrorBox error={layouts.error} />;
  if (!layouts.data) return <Loading />;
  const byName = new Map(layouts.data.map((l) => [l.name, l]));
  const top = layouts.data.filter((l) => l.parent === null);
  return (
    <div class={`page layout-page${big ? " big" : ""}`}>
      {top.length === 0 ? (
        <div class="card muted" data-testid="no-layout">
          No layout is declared. Describe your racks, boards and shelves under <code>layout:</code> (see
          docs/model.md) and apply them.
        </div>
      ) : null}
      <div class="layouts">
        {top.map((l) => (
          <Unit key={l.name} layout={l} all={byName} observed={observed} />
        ))}
      </div>
      <div class="legend muted">
        power · lifecycle · health as Lab observes them; — means nothing has reported yet (hover for why)
      </div>
    </div>
  );
}

function Unit({
  layout,
  all,
  observed,
  nested,
}: {
  layout: LayoutRow;
  all: Map<string, LayoutRow>;
  observed: Observed;
  nested?: boolean;
}) {
  const vertical = layout.type === "rack";
  // A rack lists its units from the top; items without a position follow in their order.
  const items = [...layout.items].sort((a, b) =>
    vertical
      ? (b.at ?? 0) - (a.at ?? 0)
      : (a.at ?? Number.MAX_SAFE_INTEGER) - (b.at ?? Number.MAX_SAFE_INTEGER),
  );
  const slots: { at: number | null; item?: LayoutRow["items"][number] }[] = [];
  if (vertical && layout.size) {
    // Every rack unit gets a row, empty ones too: the picture keeps the rack's real shape.
    const byTop = new Map(
      items.filter((i) => i.at !== null).map((i) => [(i.at as number) + i.height - 1, i]),
    );
    for (let u = layout.size; u >= 1; u--) {
      const item = byTop.get(u);
      if (item) {
        slots.push({ at: u, item });
        u -= item.height - 1;
      } else slots.push({ at: u });
    }
    for (const i of items.filter((x) => x.at === null)) slots.push({ at: null, item: i });
  } else {
    for (const i of items) slots.push({ at: i.at, item: i });
  }
  return (
    <section class={`unit unit-${layout.type}${nested ? " nested" : ""}`} data-layout={layout.name}>
      <header>
        <b>{layout.name}</b>
        <span class="muted">
          {" "}
          {layout.type}
          {layout.where ? ` · ${layout.where}` : ""}
          {layout.size ? ` · ${layout.size}${layout.type === "rack" ? "U" : " slots"}` : ""}
        </span>
      </header>
      <div class={vertical ? "slots vertical" : "slots horizontal"}>
        {slots.map((s, i) => (
          <div
            key={`${s.at ?? "x"}-${i}`}
            class={`slot${s.item ? ` slot-${s.item.kind}` : " empty"}`}
            style={vertical && s.item ? { minHeight: `${s.item.height * 34}px` } : undefined}
          >
            {vertical ? <span class="u muted">{s.at ?? ""}</span> : null}
            {s.item ? <Item item={s.item} all={all} observed={observed} /> : <span class="muted"> </span>}
          </div>
        ))}
      </div>
    </section>
  );
}

function Item({
  item,
  all,
  observed,
}: {
  item: LayoutRow["items"][number];
  all: Map<string, LayoutRow>;
  observed: Observed;
}) {
  if (item.kind === "layout") {
    const l = all.get(item.name);
    return l ? <Unit layout={l} all={all} observed={observed} nested /> : <span>{item.name}</span>;
  }
  return (
    <div class="item">
      {item.kind === "node" ? (
        <NodeCard name={item.name} observed={observed} />
      ) : (
        <div class="device" data-device={item.name}>
          <span class="muted">{item.name}</span>
        </div>
      )}
      {item.guests.length ? (
        <div class="guests" title="VMs and containers it runs (declared in the layout)">
          {item.guests.map((g) => (
            <NodeCard key={g} name={g} observed={observed} small />
          ))}
        </div>
      ) : null}
    </div>
  );
}

const NOT_NETBOOTED = "not network-booted by Lab";
const NO_POWER = "no power state observed (yet)";

/** Power as observed: the driver's state, or — with why (not configured, unreachable). */
function powerText(p: PowerRow | undefined): { text: string; title: string; cls: string } {
  if (!p) return { text: "—", title: NO_POWER, cls: "" };
  if (p.error)
    return {
      text: "?",
      title: `${p.driver ?? "power"}: ${p.error.code}: ${p.error.message}`,
      cls: "s-failed",
    };
  if (p.state === "not configured")
    return { text: "—", title: `not configured (${p.detail ?? "no power: section"})`, cls: "" };
  const cls = p.state === "on" ? "s-ok" : p.state === "off" ? "s-none" : "s-pending";
  return {
    text: p.state,
    title: `${p.driver ?? ""} ${p.detail ?? ""} at ${p.observedAt ?? "?"}`.trim(),
    cls,
  };
}

/** One server: its name and the three observed states, "—" for each nobody reported. */
function NodeCard({ name, observed, small }: { name: string; observed: Observed; small?: boolean }) {
  const health = observed.health(name);
  const m = observed.machine(name);
  const lifecycle = m ? `${m.state}${m.stage ? ` · ${m.stage}` : ""}` : "—";
  const power = powerText(observed.power(name));
  return (
    <div class={`node${small ? " small" : ""} ${health ? `s-${health.state}` : ""}`} data-node={name}>
      <a href={href("servers", name)} class="name">
        {name}
      </a>
      <span class="facts">
        <span class="fact" data-fact="power" title={power.title}>
          <i>power</i> <span class={power.cls}>{power.text}</span>
        </span>
        <span class="fact" data-fact="lifecycle" title={m ? (m.reason ?? m.state) : NOT_NETBOOTED}>
          <i>boot</i> {lifecycle}
        </span>
        <span class="fact" data-fact="health">
          <i>health</i>{" "}
          {health ? <PillarCell p={health} name="health" /> : <span title="not in the model">—</span>}
        </span>
      </span>
    </div>
  );
}
