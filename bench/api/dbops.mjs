/**
 * What each store call a read request makes costs by itself, on a copy of the bench's
 * state.db with the server's pragmas (WAL, synchronous=FULL): the statements Kysely sends for
 * `revision()`, `findTokenByHash()` and `touchToken()`, each prepared per call (what Kysely's
 * SQLite driver does) and prepared once (a statement cache), plus the UPDATE with
 * synchronous=NORMAL. A CPU profile cannot tell these apart: Kysely's awaits cut the stack,
 * and the native work shows up as `executeQuery` self time.
 *
 *   node bench/api/dbops.mjs STATE.db [N]     prints JSON: µs per call
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

export function measureDbOps(statePath, n = 2000) {
  const Database = require("better-sqlite3");
  const dir = mkdtempSync(join(tmpdir(), "lab-dbops-"));
  const file = join(dir, "state.db");
  copyFileSync(statePath, file);
  for (const s of ["-wal", "-shm"]) if (existsSync(statePath + s)) copyFileSync(statePath + s, file + s);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  const token = db.prepare("select id, hash from tokens limit 1").get();
  // The SQL Kysely compiles for these calls (kysely-store.ts).
  const SQL = {
    revision: 'select "value" from "meta" where "key" = ?',
    findTokenByHash: 'select * from "tokens" where "hash" = ?',
    touchToken: 'update "tokens" set "last_used_at" = ? where "id" = ?',
  };
  const time = (fn) => {
    for (let i = 0; i < Math.min(200, n); i++) fn(i);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    return ((performance.now() - t0) * 1000) / n;
  };
  const cached = Object.fromEntries(Object.entries(SQL).map(([k, v]) => [k, db.prepare(v)]));
  const r = {
    revision_preparedPerCall: time(() => db.prepare(SQL.revision).get("revision")),
    revision_cached: time(() => cached.revision.get("revision")),
    findTokenByHash_preparedPerCall: time(() => db.prepare(SQL.findTokenByHash).get(token.hash)),
    findTokenByHash_cached: time(() => cached.findTokenByHash.get(token.hash)),
    touchToken_syncFull_preparedPerCall: time((i) =>
      db.prepare(SQL.touchToken).run(new Date(1e12 + i).toISOString(), token.id),
    ),
    touchToken_syncFull_cached: time((i) =>
      cached.touchToken.run(new Date(2e12 + i).toISOString(), token.id),
    ),
  };
  db.pragma("synchronous = NORMAL");
  r.touchToken_syncNormal_cached = time((i) =>
    cached.touchToken.run(new Date(3e12 + i).toISOString(), token.id),
  );
  db.close();
  rmSync(dir, { recursive: true, force: true });
  for (const k of Object.keys(r)) r[k] = Number(r[k].toFixed(1));
  return r;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(
    `${JSON.stringify(measureDbOps(process.argv[2], Number(process.argv[3] ?? 2000)), null, 2)}\n`,
  );
}
