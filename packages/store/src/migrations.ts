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
    "0005_identity": {
      async up(db: Kysely<unknown>) {
        // One-time join tokens: only the sha256 of the token is kept.
        await db.schema
          .createTable("join_tokens")
          .addColumn("hash", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addColumn("created_by", "text", (c) => c.notNull())
          .addColumn("expires_at", "text", (c) => c.notNull())
          .addColumn("consumed_at", "text")
          .execute();
        await db.schema.createIndex("join_tokens_name").on("join_tokens").column("name").execute();
        // Enrolled agents: the key they enrolled with (SPKI hash), their current certificate.
        await db.schema
          .createTable("agents")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("spki_sha256", "text", (c) => c.notNull())
          .addColumn("cert_serial", "text", (c) => c.notNull())
          .addColumn("cert_not_before", "text", (c) => c.notNull())
          .addColumn("cert_not_after", "text", (c) => c.notNull())
          .addColumn("enrolled_at", "text", (c) => c.notNull())
          .addColumn("renewed_at", "text")
          .addColumn("renew_requested_at", "text")
          .addColumn("revoked_at", "text")
          .addColumn("revoked_by", "text")
          .addColumn("last_seen_at", "text")
          .addColumn("version", "text")
          .addColumn("ipv4", "text")
          .addColumn("addresses", "text", (c) => c.notNull().defaultTo("[]"))
          .addColumn("dns_ipv4", "text")
          .addColumn("dns_error", "text")
          .addColumn("dns_updated_at", "text")
          .addColumn("host_keys", "text", (c) => c.notNull().defaultTo("[]"))
          .addColumn("facts", "text", (c) => c.notNull().defaultTo("{}"))
          .addColumn("status", "text")
          .execute();
        // Every certificate issued to an agent; revoked ones (not yet expired) make the CRL.
        await db.schema
          .createTable("agent_certs")
          .addColumn("serial", "text", (c) => c.primaryKey())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("spki_sha256", "text", (c) => c.notNull())
          .addColumn("not_before", "text", (c) => c.notNull())
          .addColumn("not_after", "text", (c) => c.notNull())
          .addColumn("issued_at", "text", (c) => c.notNull())
          .addColumn("revoked_at", "text")
          .addColumn("reason", "text")
          .execute();
        await db.schema.createIndex("agent_certs_name").on("agent_certs").column("name").execute();
        await db.schema.createIndex("agent_certs_spki").on("agent_certs").column("spki_sha256").execute();
      },
    },
    "0006_dns_outcome": {
      async up(db: Kysely<unknown>) {
        // What the DNS server accepted (the PTR name) and what the last DNS step did, so
        // `describe` says "not configured" or "refused" instead of assuming success.
        await db.schema.alterTable("agents").addColumn("dns_ptr", "text").execute();
        await db.schema.alterTable("agents").addColumn("dns_state", "text").execute();
      },
    },
    "0007_log_events": {
      async up(db: Kysely<unknown>) {
        // The log pipeline's retention window: seq is the pipeline's own number (not
        // generated here), so a restarted server continues it and clients resume across restarts.
        await db.schema
          .createTable("log_events")
          .addColumn("seq", "bigint", (c) => c.primaryKey())
          .addColumn("time", "text", (c) => c.notNull())
          .addColumn("time_ms", "bigint", (c) => c.notNull())
          .addColumn("node", "text")
          .addColumn("service", "text")
          .addColumn("source", "text", (c) => c.notNull())
          .addColumn("level", "integer", (c) => c.notNull())
          .addColumn("message", "text", (c) => c.notNull())
          .addColumn("attributes", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("log_events_time").on("log_events").column("time_ms").execute();
      },
    },
    "0008_bastions": {
      async up(db: Kysely<unknown>) {
        // Remote sites that run the boot services and report to this control plane. acked_seq
        // is the last of the bastion's timeline ids stored here: it resends from there.
        await db.schema
          .createTable("bastions")
          .addColumn("name", "text", (c) => c.primaryKey())
          .addColumn("acked_seq", "bigint", (c) => c.notNull().defaultTo(0))
          .addColumn("boot_url", "text")
          .addColumn("version", "text")
          .addColumn("address", "text")
          .addColumn("first_seen_at", "text", (c) => c.notNull())
          .addColumn("last_seen_at", "text", (c) => c.notNull())
          .execute();
        // The bastion that serves a machine (null: this server's own boot services).
        await db.schema.alterTable("machines").addColumn("bastion", "text").execute();
      },
    },
    "0009_log_blocks": {
      async up(db: Kysely<unknown>) {
        // One row per appended batch instead of one per event (a row per event cost more than
        // everything else on the pipeline's hot path): the events as one JSON array, with the
        // ranges and counts that let a search or a prune skip a block without reading it.
        await db.schema.dropTable("log_events").execute();
        await db.schema
          .createTable("log_blocks")
          .addColumn("first_seq", "bigint", (c) => c.primaryKey())
          .addColumn("last_seq", "bigint", (c) => c.notNull())
          .addColumn("count", "integer", (c) => c.notNull())
          .addColumn("min_time_ms", "bigint", (c) => c.notNull())
          .addColumn("max_time_ms", "bigint", (c) => c.notNull())
          .addColumn("stats", "text", (c) => c.notNull())
          .addColumn("body", "text", (c) => c.notNull())
          .execute();
        await db.schema.createIndex("log_blocks_last").on("log_blocks").column("last_seq").execute();
        await db.schema.createIndex("log_blocks_time").on("log_blocks").column("max_time_ms").execute();
      },
    },
    "0010_lab_runs": {
      async up(db: Kysely<unknown>) {
        // Lab runs (`lab run`): one row per run, one per step and machine, with timings, so
        // reliability reports are a query over what really happened.
        await db.schema
          .createTable("lab_runs")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("lab", "text", (c) => c.notNull())
          .addColumn("series", "text")
          .addColumn("iteration", "integer", (c) => c.notNull().defaultTo(1))
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("actor", "text", (c) => c.notNull())
          .addColumn("started_at", "text", (c) => c.notNull())
          .addColumn("ended_at", "text")
          .addColumn("duration_ms", "bigint")
          .addColumn("error", "text")
          .execute();
        await db.schema.createIndex("lab_runs_lab").on("lab_runs").columns(["lab", "started_at"]).execute();
        await db.schema
          .createTable("lab_run_steps")
          .addColumn("run_id", "text", (c) => c.notNull())
          .addColumn("idx", "integer", (c) => c.notNull())
          .addColumn("machine", "text", (c) => c.notNull())
          .addColumn("name", "text", (c) => c.notNull())
          .addColumn("action", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("started_at", "text", (c) => c.notNull())
          .addColumn("ended_at", "text")
          .addColumn("duration_ms", "bigint")
          .addColumn("detail", "text", (c) => c.notNull().defaultTo(""))
          .addPrimaryKeyConstraint("lab_run_steps_pk", ["run_id", "idx", "machine"])
          .execute();
      },
    },
    "0011_puppet_runs": {
      async up(db: Kysely<unknown>) {
        // Each server's latest Puppet run report (the PUPPET pillar); the run itself as JSON.
        await db.schema
          .createTable("puppet_runs")
          .addColumn("server", "text", (c) => c.primaryKey())
          .addColumn("certname", "text", (c) => c.notNull())
          .addColumn("time", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("run", "text", (c) => c.notNull())
          .addColumn("received_at", "text", (c) => c.notNull())
          .execute();
      },
    },
    "0012_sync_observations": {
      async up(db: Kysely<unknown>) {
        // Each server's last comparison with its provider (the SYNC pillar); differences as JSON.
        await db.schema
          .createTable("sync_observations")
          .addColumn("server", "text", (c) => c.primaryKey())
          .addColumn("provider", "text", (c) => c.notNull())
          .addColumn("observed_at", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("observation", "text", (c) => c.notNull())
          .execute();
      },
    },
  };
}

export const MIGRATION_NAMES = Object.keys(migrations("sqlite"));

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
