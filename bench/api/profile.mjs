/**
 * Where a `node --cpu-prof` profile's time goes: self time per function (mapped back through
 * the bundle's source map to the TypeScript or node_modules file it came from), self time per
 * area (a Lab package, a dependency, node internals, GC, idle), and inclusive time of the
 * functions a request passes through. Percentages are of the busy (non-idle) time.
 *
 *   node bench/api/profile.mjs FILE.cpuprofile [TOP]
 */
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";

const maps = new Map();
function sourceMapFor(url) {
  if (!url.startsWith("file://") || !url.endsWith(".js")) return null;
  if (maps.has(url)) return maps.get(url);
  let map = null;
  try {
    map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, "utf8")));
  } catch {
    map = null;
  }
  maps.set(url, map);
  return map;
}

/** The original file of a call frame: "packages/server/src/auth.ts", "node_modules/fastify/…". */
function originOf(frame) {
  const url = frame.url ?? "";
  if (!url) return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  if (url.startsWith("node:")) return url;
  const map = sourceMapFor(url);
  if (map) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber);
    const src = entry?.originalSource;
    if (src) {
      const clean = src.replace(/^.*?\/(packages|node_modules)\//, "$1/");
      return { file: clean, line: (entry.originalLine ?? 0) + 1 };
    }
  }
  return url.replace(/^file:\/\/.*?\/node_modules\//, "node_modules/").replace(/^file:\/\//, "");
}

function areaOf(file) {
  if (typeof file !== "string") return "?";
  if (file === "(garbage collector)") return "GC";
  if (file === "(idle)") return "idle";
  if (file === "(program)") return "(program: native, outside JS)";
  if (file.startsWith("(")) return file;
  if (file.startsWith("node:")) {
    if (/^node:(internal\/)?(net|stream|internal\/streams|_http|http|internal\/http)/.test(file)) {
      return "node: http/net/streams";
    }
    return `node: ${file.replace(/^node:(internal\/)?/, "").split("/")[0]}`;
  }
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (m) return `dep: ${m[1]}`;
  const p = /^packages\/([^/]+)\/src\/([^/]+)/.exec(file);
  if (p) return `lab: ${p[1]}/${p[2]}`;
  return file;
}

export function summarize(path, top = 25) {
  const prof = JSON.parse(readFileSync(path, "utf8"));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const info = new Map();
  for (const n of prof.nodes) {
    const o = originOf(n.callFrame);
    const file = typeof o === "string" ? o : o.file;
    const where = typeof o === "string" ? o : `${o.file}:${o.line}`;
    const name = n.callFrame.functionName || "(anonymous)";
    info.set(n.id, { key: `${name}  ${where}`, name, file, area: areaOf(file) });
  }
  const self = new Map();
  const inclusive = new Map();
  /** Self time charged to the nearest Lab function up the stack (what Lab code caused it). */
  const byLabCaller = new Map();
  const isLab = (inf) => /^packages\//.test(inf.file);
  const areas = new Map();
  let total = 0;
  let idle = 0;
  const deltas = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) {
    // Each sample's time is the delta to the next sample.
    const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    const id = prof.samples[i];
    const inf = info.get(id);
    total += dt;
    if (inf.area === "idle") {
      idle += dt;
      continue;
    }
    self.set(inf.key, (self.get(inf.key) ?? 0) + dt);
    areas.set(inf.area, (areas.get(inf.area) ?? 0) + dt);
    let caller = "(no Lab function on the stack: node, fastify, ws internals)";
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      if (isLab(info.get(cur))) {
        caller = info.get(cur).key;
        break;
      }
    }
    byLabCaller.set(caller, (byLabCaller.get(caller) ?? 0) + dt);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = info.get(cur).key;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const rank = (m, n) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, ms]) => ({ key, ms: Math.round(ms), pct: busy > 0 ? (100 * ms) / busy : 0 }));
  // Inclusive time of Lab's own functions and the big dependency entry points.
  const labInclusive = [...inclusive.entries()]
    .filter(([k]) => /packages\/(server|core|store)\/src/.test(k))
    .filter(([k]) => !/\(anonymous\)|^<|^run /.test(k) || /routes\.ts|auth\.ts/.test(k));
  return {
    file: path,
    totalMs: Math.round(total),
    idleMs: Math.round(idle),
    busyMs: Math.round(busy),
    self: rank(self, top),
    areas: rank(areas, 30),
    byLabCaller: rank(byLabCaller, top),
    inclusive: rank(new Map(labInclusive), top),
  };
}

export function formatSummary(s, title) {
  const pct = (x) => `${x.pct.toFixed(1).padStart(5)}%`;
  const lines = [
    `### ${title}`,
    "",
    `Profile ${s.file}: ${s.totalMs} ms sampled, ${s.busyMs} ms busy, ${s.idleMs} ms idle. Percentages are of busy time.`,
    "",
    "Self time by area:",
    "",
    ...s.areas.map((a) => `    ${pct(a)}  ${a.key}`),
    "",
    "Self time by function (top):",
    "",
    ...s.self.map((a) => `    ${pct(a)}  ${a.key}`),
    "",
    "Self time charged to the nearest Lab function up the stack:",
    "",
    ...s.byLabCaller.map((a) => `    ${pct(a)}  ${a.key}`),
    "",
    "Inclusive time, Lab functions (the call stacks they head):",
    "",
    ...s.inclusive.map((a) => `    ${pct(a)}  ${a.key}`),
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = summarize(process.argv[2], Number(process.argv[3] ?? 25));
  process.stdout.write(formatSummary(s, process.argv[2]));
}
