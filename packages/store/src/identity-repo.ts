/**
 * Join tokens, agents and their certificates over Kysely (SQLite and PostgreSQL alike).
 * Spending a join token is a conditional UPDATE inside the enrolment's transaction: of two
 * concurrent enrolments with one token, exactly one commits.
 */
import { type DnsState, LabError } from "@lab/core";
import type {
  AgentCertRecord,
  AgentRecord,
  DnsUpdate,
  EnrolOutcome,
  IdentityStore,
  JoinTokenRecord,
  JoinTokenRefusal,
  RevokedCert,
} from "@lab/identity";
import type { Kysely, Selectable, Transaction } from "kysely";
import type { KyselyStore } from "./kysely-store.js";
import type { AgentCertTable, AgentTable, Database, JoinTokenTable } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The identity tables of a store. */
export function identityRepo(store: KyselyStore): KyselyIdentityRepo {
  return new KyselyIdentityRepo(store.db);
}

export class KyselyIdentityRepo implements IdentityStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insertJoinToken(record: JoinTokenRecord): Promise<void> {
    await this.db
      .insertInto("join_tokens")
      .values({
        hash: record.hash,
        name: record.name,
        created_at: record.createdAt,
        created_by: record.createdBy,
        expires_at: record.expiresAt,
        consumed_at: record.consumedAt,
      })
      .execute();
  }

  async findJoinToken(hash: string): Promise<JoinTokenRecord | undefined> {
    const row = await this.db
      .selectFrom("join_tokens")
      .selectAll()
      .where("hash", "=", hash)
      .executeTakeFirst();
    return row ? toJoinToken(row) : undefined;
  }

  async listJoinTokens(name?: string): Promise<JoinTokenRecord[]> {
    let q = this.db.selectFrom("join_tokens").selectAll();
    if (name) q = q.where("name", "=", name);
    const rows = await q.orderBy("created_at", "desc").limit(1000).execute();
    return rows.map(toJoinToken);
  }

  async pruneJoinTokens(before: string): Promise<number> {
    const r = await this.db
      .deleteFrom("join_tokens")
      .where((eb) => eb.or([eb("expires_at", "<", before), eb("consumed_at", "<", before)]))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async spendJoinToken(input: { hash: string; name: string; now: string }): Promise<true | JoinTokenRefusal> {
    const spent = await spendToken(this.db, input);
    if (spent) return true;
    return refusalOf(await this.findJoinToken(input.hash));
  }

  async getAgent(name: string): Promise<AgentRecord | undefined> {
    const row = await this.db.selectFrom("agents").selectAll().where("name", "=", name).executeTakeFirst();
    return row ? toAgent(row) : undefined;
  }

  async listAgents(): Promise<AgentRecord[]> {
    const rows = await this.db.selectFrom("agents").selectAll().orderBy("name").execute();
    return rows.map(toAgent);
  }

  async getCert(serial: string): Promise<AgentCertRecord | undefined> {
    const row = await this.db
      .selectFrom("agent_certs")
      .selectAll()
      .where("serial", "=", serial)
      .executeTakeFirst();
    return row ? toCert(row) : undefined;
  }

  async completeEnrolment(input: {
    tokenHash: string;
    now: string;
    agent: AgentRecord;
    cert: AgentCertRecord;
  }): Promise<EnrolOutcome> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await spendToken(trx, { hash: input.tokenHash, name: input.agent.name, now: input.now }))) {
        const row = await trx
          .selectFrom("join_tokens")
          .selectAll()
          .where("hash", "=", input.tokenHash)
          .executeTakeFirst();
        const token = row ? toJoinToken(row) : undefined;
        return { ok: false, refusal: refusalOf(token), ...(token ? { token } : {}) };
      }
      // A re-enrolment replaces the machine's identity: its earlier certificates stop working.
      await trx
        .updateTable("agent_certs")
        .set({ revoked_at: input.now, reason: "superseded" })
        .where("name", "=", input.agent.name)
        .where("revoked_at", "is", null)
        .execute();
      await trx.deleteFrom("agents").where("name", "=", input.agent.name).execute();
      await trx.insertInto("agents").values(fromAgent(input.agent)).execute();
      await insertCert(trx, input.cert);
      return { ok: true };
    });
  }

  async recordRenewal(input: {
    name: string;
    spkiSha256: string;
    cert: AgentCertRecord;
    now: string;
  }): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable("agents")
        .set({
          cert_serial: input.cert.serial,
          cert_not_before: input.cert.notBefore,
          cert_not_after: input.cert.notAfter,
          renewed_at: input.now,
          renew_requested_at: null,
        })
        .where("name", "=", input.name)
        .where("spki_sha256", "=", input.spkiSha256)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await insertCert(trx, input.cert);
      return true;
    });
  }

  async revokeAgent(
    name: string,
    input: { now: string; by: string; reason: string },
  ): Promise<{ found: boolean; alreadyRevoked: boolean; serials: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      const agent = await trx
        .selectFrom("agents")
        .select(["revoked_at"])
        .where("name", "=", name)
        .executeTakeFirst();
      if (!agent) return { found: false, alreadyRevoked: false, serials: [] };
      if (!agent.revoked_at) {
        await trx
          .updateTable("agents")
          .set({ revoked_at: input.now, revoked_by: input.by, renew_requested_at: null })
          .where("name", "=", name)
          .execute();
      }
      const open = await trx
        .selectFrom("agent_certs")
        .select("serial")
        .where("name", "=", name)
        .where("revoked_at", "is", null)
        .execute();
      if (open.length) {
        await trx
          .updateTable("agent_certs")
          .set({ revoked_at: input.now, reason: input.reason })
          .where("name", "=", name)
          .where("revoked_at", "is", null)
          .execute();
      }
      return { found: true, alreadyRevoked: Boolean(agent.revoked_at), serials: open.map((c) => c.serial) };
    });
  }

  async requestRenewal(name: string, now: string): Promise<boolean> {
    const r = await this.db
      .updateTable("agents")
      .set({ renew_requested_at: now })
      .where("name", "=", name)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async isKeyRevoked(spkiSha256: string): Promise<boolean> {
    // Superseded certificates do not count: the key was replaced, not compromised.
    const row = await this.db
      .selectFrom("agent_certs")
      .select("serial")
      .where("spki_sha256", "=", spkiSha256)
      .where("revoked_at", "is not", null)
      .where("reason", "!=", "superseded")
      .executeTakeFirst();
    if (row) return true;
    const agent = await this.db
      .selectFrom("agents")
      .select("name")
      .where("spki_sha256", "=", spkiSha256)
      .where("revoked_at", "is not", null)
      .executeTakeFirst();
    return Boolean(agent);
  }

  async revokedCerts(now: string): Promise<RevokedCert[]> {
    const rows = await this.db
      .selectFrom("agent_certs")
      .select(["serial", "revoked_at", "reason"])
      .where("revoked_at", "is not", null)
      .where("not_after", ">", now)
      .orderBy("serial")
      .execute();
    return rows.map((r) => ({ serial: r.serial, revokedAt: r.revoked_at as string, reason: r.reason }));
  }

  async checkIn(
    name: string,
    input: {
      now: string;
      version?: string;
      ipv4?: string | null;
      addresses?: string[];
      status?: Record<string, unknown>;
    },
  ): Promise<void> {
    await this.db
      .updateTable("agents")
      .set({
        last_seen_at: input.now,
        ...(input.version !== undefined ? { version: input.version } : {}),
        ...(input.ipv4 ? { ipv4: input.ipv4 } : {}),
        ...(input.addresses ? { addresses: JSON.stringify(input.addresses) } : {}),
        ...(input.status ? { status: JSON.stringify(input.status) } : {}),
      })
      .where("name", "=", name)
      .execute();
  }

  async recordFacts(name: string, facts: Record<string, unknown>): Promise<void> {
    await this.db
      .updateTable("agents")
      .set({ facts: JSON.stringify(facts) })
      .where("name", "=", name)
      .execute();
  }

  async setDns(name: string, input: DnsUpdate): Promise<void> {
    await this.db
      .updateTable("agents")
      .set({
        dns_ipv4: input.ipv4,
        dns_ptr: input.ptr,
        dns_state: input.state,
        dns_error: input.error,
        dns_updated_at: input.at,
      })
      .where("name", "=", name)
      .execute();
  }

  async pruneCerts(before: string): Promise<number> {
    const r = await this.db
      .deleteFrom("agent_certs")
      .where("not_after", "<", before)
      .where("revoked_at", "is", null)
      .where("serial", "not in", (eb) => eb.selectFrom("agents").select("cert_serial"))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

async function insertCert(db: Db, cert: AgentCertRecord): Promise<void> {
  await db
    .insertInto("agent_certs")
    .values({
      serial: cert.serial,
      name: cert.name,
      spki_sha256: cert.spkiSha256,
      not_before: cert.notBefore,
      not_after: cert.notAfter,
      issued_at: cert.issuedAt,
      revoked_at: cert.revokedAt,
      reason: cert.reason,
    })
    .execute();
}

/** Spends an unspent, unexpired token of machine `name`: whether this write was the one that did. */
async function spendToken(db: Db, input: { hash: string; name: string; now: string }): Promise<boolean> {
  const spent = await db
    .updateTable("join_tokens")
    .set({ consumed_at: input.now })
    .where("hash", "=", input.hash)
    .where("consumed_at", "is", null)
    .where("expires_at", ">", input.now)
    .where("name", "=", input.name)
    .executeTakeFirst();
  return Number(spent.numUpdatedRows) === 1;
}

/** Why a token that could not be spent was refused (it vanished, was used, or expired). */
function refusalOf(token: JoinTokenRecord | undefined): JoinTokenRefusal {
  return !token ? "unknown" : token.consumedAt ? "used" : "expired";
}

function toJoinToken(row: Selectable<JoinTokenTable>): JoinTokenRecord {
  return {
    hash: row.hash,
    name: row.name,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    consumedAt: row.consumed_at,
  };
}

function fromAgent(a: AgentRecord): AgentTable {
  return {
    name: a.name,
    spki_sha256: a.spkiSha256,
    cert_serial: a.certSerial,
    cert_not_before: a.certNotBefore,
    cert_not_after: a.certNotAfter,
    enrolled_at: a.enrolledAt,
    renewed_at: a.renewedAt,
    renew_requested_at: a.renewRequestedAt,
    revoked_at: a.revokedAt,
    revoked_by: a.revokedBy,
    last_seen_at: a.lastSeenAt,
    version: a.version,
    ipv4: a.ipv4,
    addresses: JSON.stringify(a.addresses),
    dns_ipv4: a.dnsIpv4,
    dns_ptr: a.dnsPtr,
    dns_state: a.dnsState,
    dns_error: a.dnsError,
    dns_updated_at: a.dnsUpdatedAt,
    host_keys: JSON.stringify(a.hostKeys),
    facts: JSON.stringify(a.facts),
    status: a.status ? JSON.stringify(a.status) : null,
  };
}

function toAgent(row: Selectable<AgentTable>): AgentRecord {
  return {
    name: row.name,
    spkiSha256: row.spki_sha256,
    certSerial: row.cert_serial,
    certNotBefore: row.cert_not_before,
    certNotAfter: row.cert_not_after,
    enrolledAt: row.enrolled_at,
    renewedAt: row.renewed_at,
    renewRequestedAt: row.renew_requested_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
    lastSeenAt: row.last_seen_at,
    version: row.version,
    ipv4: row.ipv4,
    addresses: json(row.addresses, [], `agent ${row.name} addresses`),
    dnsIpv4: row.dns_ipv4,
    dnsPtr: row.dns_ptr,
    dnsState: row.dns_state as DnsState | null,
    dnsError: row.dns_error,
    dnsUpdatedAt: row.dns_updated_at,
    hostKeys: json(row.host_keys, [], `agent ${row.name} host keys`),
    facts: json(row.facts, {}, `agent ${row.name} facts`),
    status: row.status ? json(row.status, null, `agent ${row.name} status`) : null,
  };
}

function toCert(row: Selectable<AgentCertTable>): AgentCertRecord {
  return {
    serial: row.serial,
    name: row.name,
    spkiSha256: row.spki_sha256,
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
    revokedAt: row.revoked_at,
    reason: row.reason,
  };
}

function json<T>(text: string, fallback: T, what: string): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LabError("LAB_E_STORE_CORRUPT", `stored ${what} are not valid JSON`);
  }
}
