/**
 * Where `lab apply` keeps what parsing each file produced, so re-applying a directory parses
 * only the files that changed. One entry per source path, holding the hash of the text it was
 * made from: a changed file replaces its entry, so the cache never outgrows the inventory.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PARSE_VERSION, type ParseCache, type SourceFile } from "@lab/core";

const sha256 = (...parts: string[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\u0000");
  return h.digest("hex");
};
const contentKey = (file: SourceFile) => sha256(PARSE_VERSION, file.path, file.text);

/** On disk under `dir` (local mode: LAB_HOME/cache/parse). A damaged entry is a miss. */
export function diskParseCache(dir: string): ParseCache {
  const entry = (file: SourceFile) => join(dir, `${sha256(file.path)}.json`);
  return {
    get(file) {
      try {
        const { key, value } = JSON.parse(readFileSync(entry(file), "utf8")) as {
          key: string;
          value: string;
        };
        return key === contentKey(file) && typeof value === "string" ? value : undefined;
      } catch {
        return undefined;
      }
    },
    set(file, value) {
      // Best effort: a cache that cannot be written only costs the next apply a parse.
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const path = entry(file);
        const tmp = `${path}.tmp-${process.pid}`;
        writeFileSync(tmp, JSON.stringify({ key: contentKey(file), value }), { mode: 0o600 });
        renameSync(tmp, path);
      } catch {}
    },
  };
}

/** In memory (the daemon), for at most `maxFiles` source paths, least recently used out first. */
export function memoryParseCache(maxFiles = 10_000): ParseCache {
  const entries = new Map<string, { key: string; value: string }>();
  return {
    get(file) {
      const e = entries.get(file.path);
      if (!e || e.key !== contentKey(file)) return undefined;
      entries.delete(file.path);
      entries.set(file.path, e);
      return e.value;
    },
    set(file, value) {
      entries.delete(file.path);
      entries.set(file.path, { key: contentKey(file), value });
      for (const oldest of entries.keys()) {
        if (entries.size <= maxFiles) break;
        entries.delete(oldest);
      }
    },
  };
}
