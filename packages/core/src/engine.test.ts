import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Fleet, type Resolution } from "./engine.js";
import { emptyModel, type Model } from "./model.js";
import { parseSources } from "./parse.js";
import { modelOf } from "./testing.js";
import { FleetViews } from "./views.js";

const names = (items: { name: string }[]) => items.map((i) => i.name);

const BASE = `
labels:
  web: { puppet_classes: [nginx, base], ports: [80, 443], size: small, alerts: [http_up], secrets: [tls/web] }
  db: { puppet_classes: [postgresql::server, base], size: large, secrets: [db/password] }
  prod: { puppet_classes: [hardening] }
  hot: {}
sizes:
  small: { abstract: { cores: 2 } }
  large: { abstract: { cores: 8 } }
secrets:
  tls/web: { type: dynamic, exclude: { environment: dev } }
  db/password: { type: static }
servers:
  web-1: { provider: aws, labels: [web, prod], environment: prod, region: eu }
  web-2: { provider: aws, labels: [web], environment: dev, region: eu }
  db-1: { provider: baremetal, labels: [db, prod], environment: prod, region: us }
  mixed: { provider: aws, labels: [web, db, hot], environment: prod, region: eu }
  big: { provider: aws, labels: [web], environment: prod, region: us, size: large }
`;

function resolveIn(yaml: string, server: string): Resolution {
  const r = new Fleet(modelOf(yaml)).resolve(server);
  if (!r) throw new Error(`no server ${server}`);
  return r;
}

describe("targeting semantics", () => {
  const cases: { name: string; target: string; expected: string[] }[] = [
    { name: "a list inside one key is any-of", target: "labels: [db, hot]", expected: ["db-1", "mixed"] },
    {
      name: "different keys are all-of",
      target: "labels: [web]\n      environment: prod",
      expected: ["web-1", "mixed", "big"],
    },
    { name: "a scalar is a one-element list", target: "environment: dev", expected: ["web-2"] },
    { name: "environment any-of", target: "region: [us]", expected: ["db-1", "big"] },
    { name: "servers by name", target: "servers: [web-2, big]", expected: ["web-2", "big"] },
    {
      name: "an empty selector matches every server",
      target: "{}",
      expected: ["web-1", "web-2", "db-1", "mixed", "big"],
    },
    { name: "no server matches", target: "labels: [hot]\n      environment: dev", expected: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const yaml = `${BASE}\nalerts:\n  - name: probe\n    condition: up == 0\n    target:\n      ${c.target}\n`;
      const fleet = new Fleet(modelOf(yaml));
      const hit = fleet.resolveAll().filter((r) => r.alerts.some((a) => a.name === "probe"));
      expect(names(hit)).toEqual(c.expected);
    });
  }
});

describe("exclusion always wins", () => {
  const cases: { name: string; exclude: string; excluded: string[]; by: string }[] = [
    { name: "by server", exclude: "servers: [mixed]", excluded: ["mixed"], by: "server" },
    { name: "by label", exclude: "labels: [hot]", excluded: ["mixed"], by: "label" },
    { name: "by environment", exclude: "environment: dev", excluded: ["web-2"], by: "environment" },
    { name: "by region", exclude: "region: us", excluded: ["big"], by: "region" },
    { name: "by group", exclude: "groups: [euro]", excluded: ["web-1", "web-2", "mixed"], by: "group" },
    {
      name: "keys of an exclusion are any-of",
      exclude: "servers: [big]\n      labels: [hot]",
      excluded: ["mixed", "big"],
      by: "server|label",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const yaml = `${BASE}
groups:
  euro: { match: { region: eu } }
alerts:
  - name: probe
    condition: up == 0
    target: { labels: [web] }
    exclude:
      ${c.exclude}
`;
      const all = new Fleet(modelOf(yaml)).resolveAll();
      const excluded = all.filter((r) =>
        r.excludedFrom.some((e) => e.kind === "alert" && e.name === "probe"),
      );
      expect(names(excluded)).toEqual(c.excluded);
      for (const r of excluded) {
        expect(r.alerts.map((a) => a.name)).not.toContain("probe");
        const e = r.excludedFrom.find((x) => x.name === "probe");
        expect(c.by.split("|")).toContain(e?.by.kind);
      }
    });
  }

  it("removes a label-attached alert too, and reports it", () => {
    const yaml = `${BASE}\nalerts:\n  - name: http_up\n    condition: up == 0\n    target: { servers: [web-1] }\n    exclude: { servers: [web-2] }\n`;
    const r = resolveIn(yaml, "web-2");
    expect(names(r.alerts)).not.toContain("http_up");
    expect(r.excludedFrom).toContainEqual({
      kind: "alert",
      name: "http_up",
      by: { kind: "server", name: "web-2", reason: "explicitly excluded" },
    });
  });

  it("only reports exclusions that removed something", () => {
    const yaml = `${BASE}\nalerts:\n  - name: probe\n    condition: up == 0\n    target: { labels: [db] }\n    exclude: { servers: [web-1] }\n`;
    expect(resolveIn(yaml, "web-1").excludedFrom).toEqual([]);
  });

  it("a secret's exclude removes it from matching servers", () => {
    const r = resolveIn(BASE, "web-2");
    expect(names(r.secrets)).toEqual([]);
    expect(r.excludedFrom).toEqual([
      { kind: "secret", name: "tls/web", by: { kind: "environment", name: "dev", reason: "excluded" } },
    ]);
  });
});

describe("groups", () => {
  const GROUPS = `${BASE}
groups:
  top:
    groups: [mid]
    exclude: { labels: [hot] }
  mid:
    groups: [leaf-a, leaf-b]
  leaf-a: { match: { labels: [web], environment: prod } }
  leaf-b: { servers: [db-1] }
  by-group: { match: { groups: [leaf-a] } }
  minus: { match: { environment: prod }, exclude: { groups: [leaf-b] } }
`;
  const fleet = new Fleet(modelOf(GROUPS));

  it("gives the reason for each membership: match, explicit, via subgroup", () => {
    const web1 = fleet.resolve("web-1");
    expect(web1?.groups).toEqual([
      { name: "top", from: [{ kind: "group", name: "mid", reason: "via subgroup" }] },
      { name: "mid", from: [{ kind: "group", name: "leaf-a", reason: "via subgroup" }] },
      {
        name: "leaf-a",
        from: [
          { kind: "label", name: "web", reason: "match" },
          { kind: "environment", name: "prod", reason: "match" },
        ],
      },
      { name: "by-group", from: [{ kind: "group", name: "leaf-a", reason: "match" }] },
      { name: "minus", from: [{ kind: "environment", name: "prod", reason: "match" }] },
    ]);
    expect(fleet.resolve("db-1")?.groups.find((g) => g.name === "leaf-b")?.from).toEqual([
      { kind: "server", name: "db-1", reason: "explicit" },
    ]);
  });

  it("nests four deep through subgroups", () => {
    const deep = new Fleet(
      modelOf(`${BASE}
groups:
  g1: { groups: [g2] }
  g2: { groups: [g3] }
  g3: { groups: [g4] }
  g4: { match: { labels: [db] } }
`),
    );
    expect(names(deep.resolve("db-1")?.groups ?? [])).toEqual(["g1", "g2", "g3", "g4"]);
    expect(names(deep.resolve("web-1")?.groups ?? [])).toEqual([]);
  });

  it("an exclusion at a parent removes the server from the parent only", () => {
    const mixed = fleet.resolve("mixed");
    expect(names(mixed?.groups ?? [])).toEqual(["mid", "leaf-a", "by-group", "minus"]);
    expect(mixed?.excludedFrom).toEqual([
      { kind: "group", name: "top", by: { kind: "label", name: "hot", reason: "excluded" } },
    ]);
  });

  it("excludes by another group's membership", () => {
    const db1 = fleet.resolve("db-1");
    expect(names(db1?.groups ?? [])).not.toContain("minus");
    expect(db1?.excludedFrom).toContainEqual({
      kind: "group",
      name: "minus",
      by: { kind: "group", name: "leaf-b", reason: "excluded" },
    });
  });

  it("alerts targeting a group follow its membership", () => {
    const model = modelOf(
      `${GROUPS}\nalerts:\n  - name: g\n    condition: x > 1\n    target: { groups: [top] }\n`,
    );
    const all = new Fleet(model).resolveAll();
    expect(names(all.filter((r) => r.alerts.some((a) => a.name === "g")))).toEqual(["web-1", "db-1", "big"]);
    expect(all.find((r) => r.name === "db-1")?.alerts.find((a) => a.name === "g")?.from).toEqual([
      { kind: "group", name: "top", reason: "target" },
    ]);
  });
});

describe("resolution of one server", () => {
  it("collects classes, ports and secrets from labels, merging repeated ones", () => {
    const r = resolveIn(BASE, "mixed");
    expect(r.classes).toEqual([
      { name: "nginx", from: [{ kind: "label", name: "web" }] },
      {
        name: "base",
        from: [
          { kind: "label", name: "web" },
          { kind: "label", name: "db" },
        ],
      },
      { name: "postgresql::server", from: [{ kind: "label", name: "db" }] },
    ]);
    expect(r.ports.map((p) => p.port)).toEqual([80, 443]);
    expect(r.secrets).toEqual([
      { name: "tls/web", access: "dynamic", from: [{ kind: "label", name: "web" }] },
      { name: "db/password", access: "read", from: [{ kind: "label", name: "db" }] },
    ]);
  });

  it("takes the server's own size over its labels'", () => {
    expect(resolveIn(BASE, "big").size).toEqual({
      name: "large",
      from: [{ kind: "server", name: "big", reason: "explicit" }],
    });
    expect(resolveIn(BASE, "web-1").size).toEqual({ name: "small", from: [{ kind: "label", name: "web" }] });
  });

  it("reports two labels that disagree on the size and uses the first", () => {
    const r = resolveIn(BASE, "mixed");
    expect(r.size?.name).toBe("small");
    expect(r.conflicts).toHaveLength(1);
    expect(r.conflicts[0]?.message).toContain("web: small");
    expect(r.conflicts[0]?.message).toContain("db: large");
  });

  it("auto-generates alerts from size, ports, classes, identity and Puppet runs, with reasons", () => {
    const auto = (server: string) =>
      resolveIn(BASE, server)
        .alerts.filter((a) => a.from.every((f) => f.kind === "auto"))
        .map((a) => `${a.name} ${a.severity} (${a.from.map((f) => f.reason).join(", ")})`);
    expect(auto("db-1")).toEqual([
      "cpu_threshold warning (from size: large)",
      "memory_threshold warning (from size: large)",
      "postgres_process critical (from class postgresql::server)",
      "postgres_replication_lag warning (from class postgresql::server)",
      "cert_expiry warning (from identity)",
      "puppet_run_failed warning (from puppet classes)",
    ]);
    // Only a server Lab gives Puppet classes is expected to report Puppet runs.
    const unclassified = `${BASE}\n  bare-1: { provider: aws, labels: [hot] }\n`;
    expect(resolveIn(unclassified, "bare-1").alerts.map((a) => a.name)).toEqual(["cert_expiry"]);
    expect(auto("web-1")).toContain("http_80 critical (from port 80)");
    expect(auto("web-1")).toContain("https_443 critical (from port 443)");
    expect(auto("web-1")).toContain("nginx_process critical (from class nginx)");
  });

  it("lets the model's classes: extend and replace the built-in class table", () => {
    const yaml = `${BASE}\nclasses:\n  nginx: {alerts: [http_up]}\n  base: {alerts: [load_high]}\nalerts:\n  - name: load_high\n    condition: load1 > 8\n`;
    const names = resolveIn(yaml, "web-1").alerts.map((a) => a.name);
    expect(names).toContain("load_high");
    expect(names).not.toContain("nginx_process");
    expect(resolveIn(yaml, "web-1").alerts.find((a) => a.name === "http_up")?.from).toEqual([
      { kind: "label", name: "web" },
      { kind: "auto", name: "class", reason: "from class nginx" },
    ]);
  });

  it("merges an alert that a label attaches and a target selects", () => {
    const yaml = `${BASE}\nalerts:\n  - name: http_up\n    condition: up == 0\n    severity: critical\n    target: { environment: prod }\n`;
    const a = resolveIn(yaml, "web-1").alerts.find((x) => x.name === "http_up");
    expect(a).toEqual({
      name: "http_up",
      severity: "critical",
      from: [
        { kind: "label", name: "web" },
        { kind: "environment", name: "prod", reason: "target" },
      ],
    });
  });

  it("is the same whether resolved alone or with the whole fleet", () => {
    const fleet = new Fleet(modelOf(BASE));
    const alone = ["web-1", "web-2", "db-1", "mixed", "big"].map((n) => new Fleet(fleet.model).resolve(n));
    expect(fleet.resolveAll()).toEqual(alone);
  });

  it("answers undefined for an unknown server", () => {
    expect(new Fleet(emptyModel()).resolve("nope")).toBeUndefined();
  });
});

describe("the design document's homelab", () => {
  const dir = join(import.meta.dirname, "../../../examples/homelab");
  const files = readdirSync(dir)
    .sort()
    .map((f) => ({ path: f, text: readFileSync(join(dir, f), "utf8") }));
  const parsed = parseSources(files);
  const views = new FleetViews(new Fleet(parsed.model));

  it("parses without diagnostics", () => {
    expect(parsed.diagnostics).toEqual([]);
  });

  it("worker-5 gets its six classes from three labels", () => {
    const r = views.server("worker-5");
    expect(r.classes).toHaveLength(6);
    expect(new Set(r.classes.flatMap((c) => c.from.map((f) => f.name)))).toEqual(
      new Set(["k8s-worker", "production", "eu-west"]),
    );
  });

  it("memory_pressure reports its exclusion", () => {
    const v = views.alert("memory_pressure");
    expect(v.excluded).toEqual([
      {
        name: "batch-worker-1",
        by: { kind: "server", name: "batch-worker-1", reason: "explicitly excluded" },
      },
    ]);
    expect(names(v.servers)).not.toContain("batch-worker-1");
    expect(names(v.servers)).toContain("worker-5");
  });

  it("eu-infrastructure reports its excluded servers and subgroups", () => {
    const g = views.group("eu-infrastructure");
    expect(g.excluded).toEqual([
      { name: "test-box-1", by: { kind: "server", name: "test-box-1", reason: "explicitly excluded" } },
      { name: "worker-9", by: { kind: "label", name: "experimental", reason: "excluded" } },
    ]);
    expect(g.subgroups.map((s) => s.name)).toEqual(["eu-west-compute", "eu-west-storage", "eu-west-network"]);
    expect(names(g.servers)).toContain("db-1");
    expect(names(g.servers)).not.toContain("legacy-node-3");
  });
});

describe("the indexed engine agrees with a brute-force reference", () => {
  it("on 500 random fleets", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const model = randomModel(seed);
      const fleet = new Fleet(model);
      for (const server of model.server.keys()) {
        const r = fleet.resolve(server);
        const ref = reference(model, server);
        expect({ seed, server, groups: names(r?.groups ?? []) }).toEqual({
          seed,
          server,
          groups: ref.groups,
        });
        const targeted = (r?.alerts ?? []).filter((a) => model.alert.has(a.name));
        expect({ seed, server, alerts: names(targeted).sort() }).toEqual({
          seed,
          server,
          alerts: ref.alerts.sort(),
        });
      }
    }
  });

  it("and its sets (what the reverse views read) list exactly the servers the resolutions name", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const model = randomModel(seed);
      const fleet = new Fleet(model);
      const all = fleet.resolveAll();
      const serversOf = (ids: number[]) => ids.map((id) => fleet.servers[id]);
      const having = (pick: (r: Resolution) => string[]) =>
        all.filter((r) => pick(r).length > 0).map((r) => r.name);
      const excludedFrom = (kind: string, name: string) =>
        having((r) => r.excludedFrom.filter((e) => e.kind === kind && e.name === name).map((e) => e.name));
      const alertNames = new Set(all.flatMap((r) => r.alerts.map((a) => a.name)));
      for (const a of model.alert.keys()) alertNames.add(a);
      for (const name of alertNames) {
        const set = fleet.alertSet(name);
        expect({ seed, name, members: serversOf(set.members.ids()) }).toEqual({
          seed,
          name,
          members: having((r) => r.alerts.filter((x) => x.name === name).map((x) => x.name)),
        });
        expect({ seed, name, excluded: serversOf(set.excluded.ids()) }).toEqual({
          seed,
          name,
          excluded: excludedFrom("alert", name),
        });
      }
      for (const name of model.group.keys()) {
        const set = fleet.groupSet(name);
        const members = all.flatMap((r) => {
          const g = r.groups.find((x) => x.name === name);
          return g ? [{ server: r.name, from: g.from }] : [];
        });
        expect({ seed, name, members: serversOf(set?.members.ids() ?? []) }).toEqual({
          seed,
          name,
          members: members.map((m) => m.server),
        });
        for (const m of members) expect(fleet.groupProvenance(name, m.server)).toEqual(m.from);
        expect(serversOf(set?.excluded.ids() ?? [])).toEqual(excludedFrom("group", name));
      }
      for (const name of ["sa", "sb"]) {
        const set = fleet.secretSet(name);
        expect({ seed, name, members: serversOf(set.members.ids()) }).toEqual({
          seed,
          name,
          members: having((r) => r.secrets.filter((x) => x.name === name).map((x) => x.name)),
        });
        expect(serversOf(set.excluded.ids())).toEqual(excludedFrom("secret", name));
      }
      for (const r of all) {
        for (const e of r.excludedFrom) expect(fleet.exclusionOf(e.kind, e.name, r.name)).toEqual(e.by);
      }
    }
  });
});

/** A tiny seeded PRNG (mulberry32). */
function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomModel(seed: number): Model {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)] as T;
  const some = <T>(xs: T[], max = 2) => [
    ...new Set(Array.from({ length: 1 + Math.floor(r() * max) }, () => pick(xs))),
  ];
  const labels = ["a", "b", "c", "d"];
  const envs = ["prod", "dev"];
  const regions = ["eu", "us"];
  const servers = Array.from({ length: 8 }, (_, i) => `s${i}`);
  const groups = Array.from({ length: 6 }, (_, i) => `g${i}`);
  const selector = (depthGroups: string[]) => {
    const sel: Record<string, string[]> = {};
    if (r() < 0.5) sel.labels = some(labels);
    if (r() < 0.3) sel.environment = some(envs, 1);
    if (r() < 0.2) sel.region = some(regions, 1);
    if (r() < 0.15) sel.servers = some(servers, 3);
    if (depthGroups.length && r() < 0.2) sel.groups = some(depthGroups, 1);
    return sel;
  };
  const lines: string[] = ["sizes:", "  small: {}", "  large: {}", "labels:"];
  for (const l of labels) {
    const spec: Record<string, unknown> = {};
    if (r() < 0.4) spec.alerts = some(["la1", "la2", "al0"], 2);
    if (r() < 0.3) spec.ports = some([80, 443, 5432], 2);
    if (r() < 0.3) spec.puppet_classes = some(["nginx", "postgresql"], 1);
    if (r() < 0.3) spec.size = pick(["small", "large"]);
    if (r() < 0.5) spec.secrets = some(["sa", "sb"], 2);
    lines.push(`  ${l}: ${JSON.stringify(spec)}`);
  }
  lines.push("secrets:");
  for (const sec of ["sa", "sb"]) {
    const exclude = r() < 0.5 ? `, exclude: ${JSON.stringify(selector([]))}` : "";
    lines.push(`  ${sec}: { type: static${exclude} }`);
  }
  lines.push("servers:");
  for (const s of servers) {
    lines.push(
      `  ${s}: { provider: p, labels: [${some(labels, 3).join(", ")}], environment: ${pick(envs)}, region: ${pick(regions)}${r() < 0.2 ? ", size: small" : ""} }`,
    );
  }
  lines.push("groups:");
  groups.forEach((g, i) => {
    // Groups only refer to later groups, so there is no cycle.
    const later = groups.slice(i + 1);
    const spec: Record<string, unknown> = {};
    if (r() < 0.7) spec.match = selector(later);
    if (r() < 0.3) spec.servers = some(servers, 2);
    if (later.length && r() < 0.4) spec.groups = some(later, 2);
    if (r() < 0.3) spec.exclude = selector(later);
    lines.push(`  ${g}: ${JSON.stringify(spec)}`);
  });
  lines.push("alerts:");
  for (let i = 0; i < 6; i++) {
    const exclude = r() < 0.3 ? `, exclude: ${JSON.stringify(selector(groups))}` : "";
    lines.push(
      `  - { name: al${i}, condition: x > 1, target: ${JSON.stringify(selector(groups))}${exclude} }`,
    );
  }
  return modelOf(lines.join("\n"));
}

/** The semantics written plainly, with no index: every group and alert checked for the server. */
function reference(model: Model, server: string): { groups: string[]; alerts: string[] } {
  const spec = model.server.get(server)?.spec;
  if (!spec) throw new Error("no server");
  const memo = new Map<string, boolean>();
  type Sel = {
    labels?: string[];
    environment?: string[];
    region?: string[];
    servers?: string[];
    groups?: string[];
  };
  const matchAll = (sel: Sel) =>
    (!sel.labels || sel.labels.some((l) => spec.labels?.includes(l))) &&
    (!sel.environment || sel.environment.includes(spec.environment ?? "")) &&
    (!sel.region || sel.region.includes(spec.region ?? "")) &&
    (!sel.servers || sel.servers.includes(server)) &&
    (!sel.groups || sel.groups.some(member));
  const matchAny = (sel: Sel) =>
    Boolean(
      sel.labels?.some((l) => spec.labels?.includes(l)) ||
        sel.environment?.includes(spec.environment ?? "") ||
        sel.region?.includes(spec.region ?? "") ||
        sel.servers?.includes(server) ||
        sel.groups?.some(member),
    );
  function member(g: string): boolean {
    const known = memo.get(g);
    if (known !== undefined) return known;
    const gs = model.group.get(g)?.spec;
    const inIt =
      !!gs &&
      ((gs.match !== undefined && matchAll(gs.match)) ||
        Boolean(gs.servers?.includes(server)) ||
        Boolean(gs.groups?.some(member))) &&
      !(gs.exclude && matchAny(gs.exclude));
    memo.set(g, inIt);
    return inIt;
  }
  const groups = [...model.group.keys()].filter(member);
  const alerts = [...model.alert.values()]
    .filter(
      (a) =>
        ((a.spec.target && matchAll(a.spec.target)) ||
          Boolean(spec.labels?.some((l) => model.label.get(l)?.spec.alerts?.includes(a.name)))) &&
        !(a.spec.exclude && matchAny(a.spec.exclude)),
    )
    .map((a) => a.name);
  return { groups, alerts };
}
