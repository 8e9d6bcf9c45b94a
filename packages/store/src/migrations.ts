/**
 * Versioned schema migrations, the same list for both dialects. A migration never changes
 * once released; add a new one instead.
 */
import { type Kysely, type Migration, type MigrationProvider, sql } from "kysely";
import type { Dialect } from "./schema.js";

function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    "0001_initial": {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable("resources")
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("spec", "text", (c) => c.notNull())
          .addColumn("origin", "text")
          .addColumn("updated_at", "text", (c) => c.notNull())
          .addColumn("position", "bigint", (c) => c.notNull())
          .addPrimaryKeyConstraint("resources_pk", ["kind", "name"])
          .execute();
        await db.schema
          .createTable("events")
          .addColumn("id", dialect === "postgres" ? "serial" : "integer", (c) =>
            dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("time", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("result", "text", (c) => c.notNull())
          .addColumn("summary", "text", (c) => c.notNull())
          .addColumn("changes", "text", (c) => c.notNull())
          .execute();
        await db.schema
          .createTable("meta")
          .addColumn("key", "text", (c) => c.primaryKey())
          .addColumn("value", "bigint", (c) => c.notNull())
          .execute();
        await sql`insert into meta (key, value) values ('revision', 0)`.execute(db);
      },
    },
    "0002_tokens_and_event_subjects": {
      async up(db: Kysely<unknown>) {
        // What each event touched ("server/db-1", "label/web"), for filtered event streams.
        await db.schema
          .alterTable("events")
          .addColumn("subjects", "text", (c) => c.notNull().defaultTo("[]"))
          .execute();
        await db.schema
          .createTable("tokens")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("hash", "text", (c) => c.notNull().unique())
          .addColumn("scopes", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .addColumn("expires_at", "text")
          .addColumn("last_used_at", "text")
          .addColumn("revoked_at", "text")
          .execute();
      },
    },
    "0003_health": {
      async up(db: Kysely<unknown>) {
        // The latest verdict of each health source on each server (every replica reads it).
        await db.schema
          .createTable("health")
          .addColumn("source", "text", (c) => c.notNull())
          .addColumn("server", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("summary", "text", (c) => c.notNull())
          .addColumn("findings", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("health_pk", ["source", "server"])
          .execute();
      },
    },
    "0004_provisioning": {
      async up(db: Kysely<unknown>) {
        // Machines Lab network-boots, keyed by MAC; `name` links one to its server once known.
        await db.schema
          .createTable("machines")
          .addColumn("mac", "text", (c) => c.primaryKey())
          .addColumn("name", "text")
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("reason", "text")
          .addColumn("image", "text")
          .addColumn("hardware", "text")
          .addColumn("token_hash", "text")
          .addColumn("debug", "integer", (c) => c.notNull().defaultTo(0))
          .addColumn("preserve", "text", (c) => c.notNull().defaultTo("[]"))
          .addColumn("ip", "text")
          .addColumn("stage", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("updated_at", "text", (c) => c.notNull())
          .execute();
        // The boot timeline: every DHCP, TFTP, HTTP, progress and syslog step per MAC.
        await db.schema
          .createTable("boot_events")
          .addColumn("id", dialect === "postgres" ? "bigserial" : "integer", (c) =>
            dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn("mac", "text", (c) => c.notNull())
          .addColumn("time", "text", (c) => c.notNull())
          .addColumn("kind", "text", (c) => c.notNull())
          .addColumn("type", "text", (c) => c.notNull())
          .addColumn("detail", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("boot_events_mac").on("boot_events").columns(["mac", "id"]).execute();
      },
    },
  };
}

export const MIGRATION_NAMES = Object.keys(migrations("sqlite"));

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
