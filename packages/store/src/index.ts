export { identityRepo, KyselyIdentityRepo } from "./identity-repo.js";
export { KyselyStore } from "./kysely-store.js";
export { MIGRATION_NAMES } from "./migrations.js";
export { diskParseCache, memoryParseCache } from "./parse-cache.js";
export type { Database, Dialect } from "./schema.js";
export { backupSqlite, type CheckReport, checkSqlite, openSqliteStore, restoreSqlite } from "./sqlite.js";

import { openSqliteStore } from "./sqlite.js";

/** Opens a PostgreSQL store; the driver loads only when it is used (the CLI starts faster). */
export async function openPostgresStore(url: string) {
  return (await import("./postgres.js")).openPostgresStore(url);
}

/** Opens the store a location names: a `postgres://` URL or a SQLite file path. */
export function openStore(location: string) {
  return /^postgres(ql)?:\/\//.test(location) ? openPostgresStore(location) : openSqliteStore(location);
}
export {
  type LogRecord,
  LogRepo,
  type LogSearch,
  type LogTotals,
  logsPath,
  openLogRepo,
} from "./log-repo.js";
export { migrateState, type TableReport } from "./migrate-state.js";
