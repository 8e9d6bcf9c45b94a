#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): where the time goes by package or
 * source file, by function (self time), by function including callees, and by source line.
 * Frames in bundles (dist/lab.js, bench/engine/out/bench.mjs) are mapped back to their source
 * file and line through the bundle's `.map`.
 *
 *   node bench/engine/profile.mjs bench/engine/out/profiles/get-servers-json/*.cpuprofile [--top 25]
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** A source map's `mappings` as, per generated line, [column, source, sourceLine] segments. */
function decodeMappings(mappings) {
  const lines = [];
  let source = 0;
  let srcLine = 0;
  for (const text of mappings.split(";")) {
    const segments = [];
    let col = 0;
    for (const seg of text ? text.split(",") : []) {
      const v = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          v.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      col += v[0] ?? 0;
      if (v.length >= 4) {
        source += v[1];
        srcLine += v[2];
        // v[3] (source column) is not needed: lines are enough here.
        segments.push([col, source, srcLine]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

const maps = new Map();

/** The decoded source map next to a generated file, or null. */
function sourceMapOf(path) {
  if (!maps.has(path)) {
    let m = null;
    if (existsSync(`${path}.map`)) {
      try {
        const raw = JSON.parse(readFileSync(`${path}.map`, "utf8"));
        m = {
          lines: decodeMappings(raw.mappings),
          sources: raw.sources.map((s) => s.replace(/^(\.\.\/)+/, "")),
          content: raw.sourcesContent ?? [],
        };
      } catch {
        m = null;
      }
    }
    maps.set(path, m);
  }
  return maps.get(path);
}

function pathOf(url) {
  return url.startsWith("file://") ? fileURLToPath(url) : url;
}

/** Short module names: node_modules/<pkg>/…, packages/…, node:internal. */
function shorten(path) {
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) return path.slice(nm);
  return path.replace(/^.*?\/(bench|packages|dist|scripts)\//, "$1/");
}

/** Maps a generated (0-based line, column) to { module, line (1-based), text }. */
function mapPosition(url, line0, col) {
  if (!url) return null;
  if (url.startsWith("node:"))
    return { module: url.startsWith("node:internal") ? "node:internal" : url, line: line0 + 1 };
  const path = pathOf(url);
  const map = sourceMapOf(path);
  if (map) {
    const segs = map.lines[line0] ?? [];
    let hit = segs[0];
    for (const s of segs) {
      if (s[0] <= col) hit = s;
      else break;
    }
    if (hit) {
      const text = map.content[hit[1]]?.split("\n")[hit[2]]?.trim() ?? "";
      return { module: shorten(map.sources[hit[1]] ?? path), line: hit[2] + 1, text };
    }
    return { module: `${shorten(path)} (bundle glue)`, line: line0 + 1 };
  }
  return { module: shorten(path), line: line0 + 1 };
}

/** node_modules/yaml/dist/x.js → yaml; packages/core/src/engine.ts stays as is. */
function packageOf(module) {
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(module);
  return m ? m[1] : module;
}

export function summarize(profile, { top = 20 } = {}) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const { samples, timeDeltas } = profile;
  const totalUs = profile.endTime - profile.startTime;
  const avg = totalUs / Math.max(1, samples.length);

  const places = new Map();
  const place = (n) => {
    let p = places.get(n.id);
    if (!p) {
      const f = n.callFrame;
      p = mapPosition(f.url, f.lineNumber, f.columnNumber) ?? {
        module: f.functionName.startsWith("(") ? f.functionName : "(native)",
        line: 0,
      };
      places.set(n.id, p);
    }
    return p;
  };
  const key = (n) => {
    const p = place(n);
    return `${n.callFrame.functionName || "(anonymous)"} ${p.line ? `${p.module}:${p.line}` : p.module}`;
  };

  const add = (map, k, us) => map.set(k, (map.get(k) ?? 0) + us);
  const self = new Map();
  const inclusive = new Map();
  const byModule = new Map();
  const byPackage = new Map();
  const nodeSelf = new Map();
  for (let i = 0; i < samples.length; i++) {
    const us = timeDeltas[i + 1] ?? avg;
    let node = nodes.get(samples[i]);
    if (!node) continue;
    add(nodeSelf, node.id, us);
    const mod = place(node).module;
    add(self, key(node), us);
    add(byModule, mod, us);
    add(byPackage, packageOf(mod), us);
    const seen = new Set();
    while (node) {
      const k = key(node);
      if (!seen.has(k)) {
        seen.add(k);
        add(inclusive, k, us);
      }
      node = nodes.get(parent.get(node.id));
    }
  }

  // Self time by source line, from V8's per-line ticks (`positionTicks`, 1-based lines).
  const lines = new Map();
  for (const n of profile.nodes) {
    const us = nodeSelf.get(n.id);
    const ticks = n.positionTicks ?? [];
    const total = ticks.reduce((a, t) => a + t.ticks, 0);
    if (!us || !total) continue;
    for (const t of ticks) {
      const p = mapPosition(n.callFrame.url, t.line - 1, 0);
      if (!p) continue;
      const k = `${p.module}:${p.line} (${n.callFrame.functionName || "anonymous"})${p.text ? `  ${p.text.slice(0, 90)}` : ""}`;
      add(lines, k, (us * t.ticks) / total);
    }
  }

  const rows = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / totalUs }));
  return {
    totalMs: totalUs / 1000,
    samples: samples.length,
    byPackage: rows(byPackage, top),
    self: rows(self, top),
    inclusive: rows(new Map([...inclusive].filter(([k]) => !/^\((root|program|idle)\)/.test(k))), top * 2),
    lines: rows(lines, top),
  };
}

export function formatSummary(title, s) {
  const fmt = (r) => `  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(1).padStart(8)} ms  ${r.name}`;
  return [
    `== ${title}: ${s.totalMs.toFixed(0)} ms profiled, ${s.samples} samples`,
    "-- self time by package / source file",
    ...s.byPackage.map(fmt),
    "-- self time by function",
    ...s.self.map(fmt),
    "-- total time by function (including callees)",
    ...s.inclusive.map(fmt),
    "-- self time by source line",
    ...s.lines.map(fmt),
    "",
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf("--top");
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 20;
  const files = args.filter((a, i) => !a.startsWith("--") && (topAt < 0 || i !== topAt + 1));
  if (files.length === 0) {
    process.stderr.write("usage: node bench/engine/profile.mjs FILE.cpuprofile… [--top N]\n");
    process.exit(2);
  }
  for (const f of files) {
    process.stdout.write(formatSummary(f, summarize(JSON.parse(readFileSync(f, "utf8")), { top })));
  }
}
