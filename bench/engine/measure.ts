/**
 * In-process measurements of the engine on a generated fleet: resolving one server (on a
 * freshly built Fleet and on a warm one), resolving all of them, the `show server` /
 * `targets server` views, and the steps `lab get servers` and `lab apply` are made of.
 * Every number is a duration in milliseconds; nothing here passes or fails.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  Fleet,
  FleetViews,
  LabService,
  type Model,
  modelFromResources,
  parseSources,
  type Resolution,
  type SourceFile,
  validateModel,
} from "@lab/core";
import { openSqliteStore } from "@lab/store";
import { Rng } from "./generate.js";

export interface Stats {
  n: number;
  min: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (q: number) =>
    s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    median: s.length % 2 ? rank(0.5) : ((s[s.length / 2 - 1] ?? 0) + (s[s.length / 2] ?? 0)) / 2,
    p90: rank(0.9),
    p99: rank(0.99),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
  };
}

/** Runs `fn` once and returns [milliseconds, result]. */
export function timed<T>(fn: () => T): [number, T] {
  const t0 = performance.now();
  const value = fn();
  return [performance.now() - t0, value];
}

export async function timedAsync<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const value = await fn();
  return [performance.now() - t0, value];
}

/** `lab apply -f DIR` reads directories recursively, sorted by name; so does this. */
export function readFleetDir(dir: string): SourceFile[] {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  return walk(dir)
    .filter((f) => /\.ya?ml$/i.test(f))
    .map((path) => ({ path, text: readFileSync(path, "utf8") }));
}

/** `count` distinct server names spread over the whole fleet, the same ones every run. */
export function sampleServers(model: Model, count: number, seed = 7): string[] {
  return new Rng(seed).sample([...model.server.keys()], count);
}

export interface InProcessOptions {
  fleetDir: string;
  /** A LAB_HOME the fleet was applied to, for the store-backed measurements. */
  labHome: string;
  coldSamples: number;
  warmSamples: number;
  resolveAllRuns: number;
}

export async function measureInProcess(opts: InProcessOptions) {
  const files = readFleetDir(opts.fleetDir);
  const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.text), 0);

  // The apply pipeline's CPU steps (the first call in this process: JIT-cold). The parse
  // result keeps every YAML node alive for error locations, so it is dropped afterwards.
  const { parseMs, validateMs, diagnostics } = (() => {
    const [parseMs, parsed] = timed(() => parseSources(files));
    const [validateMs, validation] = timed(() => validateModel(parsed.model, parsed.locate));
    return { parseMs, validateMs, diagnostics: [...parsed.diagnostics, ...validation] };
  })();
  const byCode: Record<string, number> = {};
  for (const d of diagnostics) byCode[d.code] = (byCode[d.code] ?? 0) + 1;

  // Everything below runs on the model as the CLI gets it: loaded from the applied state.
  const store = await openSqliteStore(join(opts.labHome, "state.db"));
  const model = modelFromResources(await store.load());

  const counts = Object.fromEntries(
    Object.entries(model).map(([k, m]) => [k, (m as Map<string, unknown>).size]),
  );
  const cold = sampleServers(model, opts.coldSamples, 11);
  const warm = sampleServers(model, opts.warmSamples, 13);

  // Building a Fleet: indexes groups and alerts; no per-server work.
  const build: number[] = [];
  for (let i = 0; i < 30; i++) build.push(timed(() => new Fleet(model))[0]);

  // (a) Fresh Fleet per server: constructor, then the first resolve() on it.
  const freshResolve: number[] = [];
  const freshBuildAndResolve: number[] = [];
  for (const name of cold) {
    const t0 = performance.now();
    const fleet = new Fleet(model);
    const t1 = performance.now();
    const r = fleet.resolve(name);
    const t2 = performance.now();
    if (!r) throw new Error(`no resolution for ${name}`);
    freshResolve.push(t2 - t1);
    freshBuildAndResolve.push(t2 - t0);
  }

  // (b) One warm Fleet, resolve() over many different servers. resolve() does not cache a
  // single server's answer (only resolveAll() does), so every call computes in full.
  const warmFleet = new Fleet(model);
  for (const name of cold) warmFleet.resolve(name); // warm-up on other servers
  const warmResolve: number[] = [];
  for (const name of warm) {
    const [ms, r] = timed(() => warmFleet.resolve(name));
    warmResolve.push(ms);
    if (!r) throw new Error(`no resolution for ${name}`);
  }
  // What a resolution holds, on average (outside the timed loop: no extra garbage there).
  const shapes = { groups: 0, alerts: 0, classes: 0, secrets: 0, excluded: 0, jsonBytes: 0 };
  for (const name of warm) {
    const r = warmFleet.resolve(name) as Resolution;
    shapes.groups += r.groups.length;
    shapes.alerts += r.alerts.length;
    shapes.classes += r.classes.length;
    shapes.secrets += r.secrets.length;
    shapes.excluded += r.excludedFrom.length;
    shapes.jsonBytes += JSON.stringify(r).length;
  }
  const perServer = Object.fromEntries(
    Object.entries(shapes).map(([k, v]) => [k, Math.round((v / warm.length) * 10) / 10]),
  );

  // resolveAll(): computed once per Fleet, so each run gets a new one.
  const resolveAll: number[] = [];
  let all: Resolution[] = [];
  for (let i = 0; i < opts.resolveAllRuns; i++) {
    const fleet = new Fleet(model);
    const [ms, rs] = timed(() => fleet.resolveAll());
    resolveAll.push(ms);
    all = rs;
  }
  const totals = { groupMemberships: 0, alerts: 0, exclusions: 0 };
  for (const r of all) {
    totals.groupMemberships += r.groups.length;
    totals.alerts += r.alerts.length;
    totals.exclusions += r.excludedFrom.length;
  }

  // `show server` and `targets server` both answer with FleetViews.server (one resolve).
  const viewsFresh: number[] = [];
  for (const name of cold) {
    const views = new FleetViews(new Fleet(model));
    viewsFresh.push(timed(() => views.server(name))[0]);
  }
  const views = new FleetViews(new Fleet(model));
  const viewsWarm = warm.map((name) => timed(() => views.server(name))[0]);

  // `get servers` rows (no resolution unless -o wide) and their JSON.
  const rowsMs: number[] = [];
  const wideMs: number[] = [];
  const jsonMs: number[] = [];
  let jsonBytes = 0;
  for (let i = 0; i < 5; i++) {
    const v = new FleetViews(new Fleet(model));
    const [ms, rows] = timed(() => v.serverRows({}, false));
    rowsMs.push(ms);
    const [jms, text] = timed(() => JSON.stringify(rows, null, 2));
    jsonMs.push(jms);
    jsonBytes = text.length;
    wideMs.push(timed(() => new FleetViews(new Fleet(model)).serverRows({}, true))[0]);
  }

  // The same answers through LabService over the SQLite state, as the CLI runs them.
  const loadMs: number[] = [];
  const modelMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const [ms, resources] = await timedAsync(() => store.load());
    loadMs.push(ms);
    modelMs.push(timed(() => modelFromResources(resources))[0]);
  }
  const serviceFirst: number[] = [];
  const serviceListFirst: number[] = [];
  for (let i = 0; i < 5; i++) {
    const svc = new LabService(store, "bench");
    serviceFirst.push((await timedAsync(() => svc.targets(cold[i] ?? "")))[0]);
    const svc2 = new LabService(store, "bench");
    serviceListFirst.push((await timedAsync(() => svc2.list("server")))[0]);
  }
  const svc = new LabService(store, "bench");
  await svc.targets(cold[0] ?? "");
  const serviceTargetsWarm: number[] = [];
  const serviceShowWarm: number[] = [];
  for (const name of warm.slice(0, 500)) {
    serviceTargetsWarm.push((await timedAsync(() => svc.targets(name)))[0]);
    serviceShowWarm.push((await timedAsync(() => svc.show("server", name)))[0]);
  }
  await store.close();

  return {
    fleet: { files: files.length, bytes, counts, perServer, totals },
    diagnostics: {
      errors: diagnostics.filter((d) => d.severity === "error").length,
      warnings: diagnostics.filter((d) => d.severity === "warning").length,
      byCode,
      firstErrors: diagnostics
        .filter((d) => d.severity === "error")
        .slice(0, 5)
        .map((d) => `${d.code}: ${d.message}`),
    },
    apply: { parseMs, validateMs },
    fleetBuild: stats(build),
    resolveFresh: stats(freshResolve),
    resolveFreshWithBuild: stats(freshBuildAndResolve),
    resolveWarm: stats(warmResolve),
    resolveAll: stats(resolveAll),
    viewsServerFresh: stats(viewsFresh),
    viewsServerWarm: stats(viewsWarm),
    serverRows: stats(rowsMs),
    serverRowsWide: stats(wideMs),
    serverRowsJson: { ...stats(jsonMs), bytes: jsonBytes },
    store: {
      load: stats(loadMs),
      modelFromResources: stats(modelMs),
      targetsFirstCall: stats(serviceFirst),
      listServersFirstCall: stats(serviceListFirst),
      targetsWarm: stats(serviceTargetsWarm),
      showServerWarm: stats(serviceShowWarm),
    },
    samples: { cold: cold.length, warm: warm.length, resolveAllRuns: opts.resolveAllRuns },
  };
}

/**
 * The first resolve in a brand-new process (JIT-cold), the way one `lab show server` runs:
 * load the state, build the Fleet, resolve one server; then resolveAll() on a new Fleet.
 */
export async function measureFirstInProcess(labHome: string, name: string) {
  const store = await openSqliteStore(join(labHome, "state.db"));
  const [loadMs, resources] = await timedAsync(() => store.load());
  await store.close();
  const [modelMs, model] = timed(() => modelFromResources(resources));
  const [buildMs, fleet] = timed(() => new Fleet(model));
  const [resolveMs, r] = timed(() => fleet.resolve(name));
  if (!r) throw new Error(`no server ${name}`);
  const [secondMs] = timed(() => fleet.resolve(name));
  const [resolveAllMs] = timed(() => new Fleet(model).resolveAll());
  return { loadMs, modelMs, buildMs, resolveMs, secondResolveMs: secondMs, resolveAllMs };
}

/** resolveAll() `runs` times on fresh Fleets over the stored state (for `node --cpu-prof`). */
export async function runResolveAll(labHome: string, runs: number) {
  const store = await openSqliteStore(join(labHome, "state.db"));
  const model = modelFromResources(await store.load());
  await store.close();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(timed(() => new Fleet(model).resolveAll())[0]);
  return stats(ms);
}
