/**
 * Writes rendered files into a folder atomically, file by file (write a temp file, then
 * rename), and reports what changed. Files Lab rendered before but no longer renders are
 * removed; files Lab never wrote are left alone (a manifest remembers which are Lab's).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import { LabError } from "@lab/core";
import type { RenderedFile } from "./types.js";

const MANIFEST = ".lab-rendered.json";

export interface WriteReport {
  changed: string[];
  unchanged: string[];
  removed: string[];
}

export function writeRendered(dir: string, files: RenderedFile[]): WriteReport {
  mkdirSync(dir, { recursive: true });
  const report: WriteReport = { changed: [], unchanged: [], removed: [] };
  for (const f of files) {
    const rel = normalize(f.path);
    if (rel.startsWith("..") || rel.startsWith(sep)) {
      throw new LabError("LAB_E_INTERNAL", `renderer produced a path outside the output folder: ${f.path}`);
    }
    const target = join(dir, rel);
    if (existsSync(target) && readFileSync(target, "utf8") === f.content) {
      report.unchanged.push(f.path);
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, f.content);
    renameSync(tmp, target);
    report.changed.push(f.path);
  }
  const manifestPath = join(dir, MANIFEST);
  const previous: string[] = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")) : [];
  const current = new Set(files.map((f) => f.path));
  for (const old of previous) {
    if (current.has(old)) continue;
    rmSync(join(dir, normalize(old)), { force: true });
    report.removed.push(old);
  }
  writeFileSync(manifestPath, `${JSON.stringify([...current].sort(), null, 2)}\n`);
  return report;
}
