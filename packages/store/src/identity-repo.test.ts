/**
 * The identity tables (join tokens, agents, agent certificates) on SQLite and on a real
 * PostgreSQL server (a throwaway database; no server is a failure: run
 * `bash scripts/ensure-postgres.sh`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentCertRecord, AgentRecord, JoinTokenRecord } from "@lab/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertPostgresReachable,
  createThrowawayDatabase,
  type ThrowawayDatabase,
} from "../../../test/support/postgres.js";
import { identityRepo, type KyselyIdentityRepo } from "./identity-repo.js";
import type { KyselyStore } from "./kysely-store.js";
import { openPostgresStore } from "./postgres.js";
import { openSqliteStore } from "./sqlite.js";

const T0 = "2026-03-01T10:00:00.000Z";
const T1 = "2026-03-01T11:00:00.000Z";
const T2 = "2026-03-01T12:00:00.000Z";
const LATER = "2026-03-09T00:00:00.000Z";

function token(name: string, hash: string, expiresAt = T1): JoinTokenRecord {
  return { hash, name, createdAt: T0, createdBy: "tester", expiresAt, consumedAt: null };
}

function cert(name: string, serial: string, spki: string, notAfter = LATER): AgentCertRecord {
  return {
    serial,
    name,
    spkiSha256: spki,
    notBefore: T0,
    notAfter,
    issuedAt: T0,
    revokedAt: null,
    reason: null,
  };
}

function agent(name: string, serial: string, spki: string): AgentRecord {
  return {
    name,
    spkiSha256: spki,
    certSerial: serial,
    certNotBefore: T0,
    certNotAfter: LATER,
    enrolledAt: T0,
    renewedAt: null,
    renewRequestedAt: null,
    revokedAt: null,
    revokedBy: null,
    lastSeenAt: T0,
    version: "1",
    ipv4: "10.0.0.5",
    addresses: ["10.0.0.5"],
    dnsIpv4: null,
    dnsPtr: null,
    dnsState: null,
    dnsError: null,
    dnsUpdatedAt: null,
    hostKeys: ["ssh-ed25519 AAAA host"],
    facts: { os: "debian" },
    status: null,
  };
}

interface Opened {
  repo: KyselyIdentityRepo;
  cleanup(): Promise<void>;
}

const backends: { label: string; open: () => Promise<Opened> }[] = [
  {
    label: "SQLite",
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "lab-identity-repo-"));
      const store = await openSqliteStore(join(dir, "state.db"));
      return {
        repo: identityRepo(store),
        cleanup: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    label: "PostgreSQL",
    open: async () => {
      if (unreachable) throw unreachable;
      const d = await createThrowawayDatabase();
      made.push(d);
      const store: KyselyStore = await openPostgresStore(d.url);
      return {
        repo: identityRepo(store),
        cleanup: async () => {
          await store.close();
          await d.drop();
        },
      };
    },
  },
];

const made: ThrowawayDatabase[] = [];
let unreachable: unknown;

beforeAll(async () => {
  try {
    await assertPostgresReachable();
  } catch (e) {
    unreachable = e;
  }
});

afterAll(async () => {
  for (const d of made) await d.drop();
});

for (const { label, open } of backends) {
  describe(`identity repo on ${label}`, () => {
    const withRepo = (fn: (repo: KyselyIdentityRepo) => Promise<void>) => async () => {
      const { repo, cleanup } = await open();
      try {
        await fn(repo);
      } finally {
        await cleanup();
      }
    };

    it(
      "stores join tokens by hash and lists them newest first",
      withRepo(async (repo) => {
        await repo.insertJoinToken(token("web-1", "h1"));
        await repo.insertJoinToken({ ...token("web-2", "h2"), createdAt: T1 });
        expect(await repo.findJoinToken("h1")).toEqual(token("web-1", "h1"));
        expect(await repo.findJoinToken("nope")).toBeUndefined();
        expect((await repo.listJoinTokens()).map((t) => t.hash)).toEqual(["h2", "h1"]);
        expect((await repo.listJoinTokens("web-1")).map((t) => t.hash)).toEqual(["h1"]);
      }),
    );

    it(
      "spends a token once: of two concurrent enrolments exactly one commits",
      withRepo(async (repo) => {
        await repo.insertJoinToken(token("web-1", "h1"));
        const outcomes = await Promise.all([
          repo.completeEnrolment({
            tokenHash: "h1",
            now: T0,
            agent: agent("web-1", "AA01", "k1"),
            cert: cert("web-1", "AA01", "k1"),
          }),
          repo.completeEnrolment({
            tokenHash: "h1",
            now: T0,
            agent: agent("web-1", "AA02", "k2"),
            cert: cert("web-1", "AA02", "k2"),
          }),
        ]);
        expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
        expect(outcomes.find((o) => !o.ok)).toMatchObject({ ok: false, refusal: "used" });
        const stored = await repo.getAgent("web-1");
        const winner = outcomes[0]?.ok ? "AA01" : "AA02";
        expect(stored?.certSerial).toBe(winner);
        expect((await repo.findJoinToken("h1"))?.consumedAt).toBe(T0);
        // The loser's certificate was never recorded.
        expect(await repo.getCert(winner === "AA01" ? "AA02" : "AA01")).toBeUndefined();
      }),
    );

    it.each([
      { what: "an unknown token", hash: "zz", now: T0, refusal: "unknown" },
      { what: "an expired token", hash: "h1", now: T2, refusal: "expired" },
    ])("refuses $what and writes nothing", async ({ hash, now, refusal }) => {
      const { repo, cleanup } = await open();
      try {
        await repo.insertJoinToken(token("web-1", "h1"));
        const outcome = await repo.completeEnrolment({
          tokenHash: hash,
          now,
          agent: agent("web-1", "AA01", "k1"),
          cert: cert("web-1", "AA01", "k1"),
        });
        expect(outcome).toMatchObject({ ok: false, refusal });
        expect(await repo.getAgent("web-1")).toBeUndefined();
        expect(await repo.getCert("AA01")).toBeUndefined();
      } finally {
        await cleanup();
      }
    });

    it(
      "round-trips an agent with its JSON fields",
      withRepo(async (repo) => {
        await repo.insertJoinToken(token("web-1", "h1"));
        await repo.completeEnrolment({
          tokenHash: "h1",
          now: T0,
          agent: agent("web-1", "AA01", "k1"),
          cert: cert("web-1", "AA01", "k1"),
        });
        expect(await repo.getAgent("web-1")).toEqual(agent("web-1", "AA01", "k1"));
        await repo.checkIn("web-1", {
          now: T1,
          version: "2",
          ipv4: "10.0.0.9",
          addresses: ["10.0.0.9", "fe80::1"],
          status: { uptime: 5 },
        });
        await repo.recordFacts("web-1", { kernel: "6.1" });
        await repo.setDns("web-1", {
          state: "registered",
          ipv4: "10.0.0.9",
          ptr: "9.0.0.10.in-addr.arpa",
          error: null,
          at: T1,
        });
        expect(await repo.getAgent("web-1")).toMatchObject({
          lastSeenAt: T1,
          version: "2",
          ipv4: "10.0.0.9",
          addresses: ["10.0.0.9", "fe80::1"],
          status: { uptime: 5 },
          facts: { kernel: "6.1" },
          dnsIpv4: "10.0.0.9",
          dnsUpdatedAt: T1,
        });
        expect((await repo.listAgents()).map((a) => a.name)).toEqual(["web-1"]);
      }),
    );

    it(
      "renews unless revoked or re-keyed, and revocation lists every open certificate",
      withRepo(async (repo) => {
        await repo.insertJoinToken(token("web-1", "h1"));
        await repo.completeEnrolment({
          tokenHash: "h1",
          now: T0,
          agent: agent("web-1", "AA01", "k1"),
          cert: cert("web-1", "AA01", "k1"),
        });
        expect(await repo.requestRenewal("web-1", T1)).toBe(true);
        expect(
          await repo.recordRenewal({
            name: "web-1",
            spkiSha256: "other",
            cert: cert("web-1", "AA02", "other"),
            now: T1,
          }),
        ).toBe(false);
        expect(
          await repo.recordRenewal({
            name: "web-1",
            spkiSha256: "k1",
            cert: cert("web-1", "AA03", "k1"),
            now: T1,
          }),
        ).toBe(true);
        expect(await repo.getAgent("web-1")).toMatchObject({
          certSerial: "AA03",
          renewedAt: T1,
          renewRequestedAt: null,
        });

        const revoked = await repo.revokeAgent("web-1", { now: T2, by: "tester", reason: "revoked" });
        expect(revoked).toEqual({ found: true, alreadyRevoked: false, serials: ["AA01", "AA03"] });
        expect(await repo.revokeAgent("web-1", { now: T2, by: "tester", reason: "revoked" })).toEqual({
          found: true,
          alreadyRevoked: true,
          serials: [],
        });
        expect(await repo.revokeAgent("nobody", { now: T2, by: "tester", reason: "revoked" })).toMatchObject({
          found: false,
        });
        expect((await repo.revokedCerts(T2)).map((c) => c.serial)).toEqual(["AA01", "AA03"]);
        // Expired certificates leave the CRL: they are refused anyway.
        expect(await repo.revokedCerts("2030-01-01T00:00:00.000Z")).toEqual([]);
        expect(await repo.isKeyRevoked("k1")).toBe(true);
        expect(await repo.isKeyRevoked("k2")).toBe(false);
        expect(
          await repo.recordRenewal({
            name: "web-1",
            spkiSha256: "k1",
            cert: cert("web-1", "AA04", "k1"),
            now: T2,
          }),
        ).toBe(false);
        expect(await repo.requestRenewal("web-1", T2)).toBe(false);
      }),
    );

    it(
      "a re-enrolment supersedes the earlier certificates without marking the old key revoked",
      withRepo(async (repo) => {
        await repo.insertJoinToken(token("web-1", "h1"));
        await repo.insertJoinToken(token("web-1", "h2"));
        await repo.completeEnrolment({
          tokenHash: "h1",
          now: T0,
          agent: agent("web-1", "AA01", "k1"),
          cert: cert("web-1", "AA01", "k1"),
        });
        await repo.completeEnrolment({
          tokenHash: "h2",
          now: T0,
          agent: agent("web-1", "BB01", "k2"),
          cert: cert("web-1", "BB01", "k2"),
        });
        expect(await repo.getCert("AA01")).toMatchObject({ revokedAt: T0, reason: "superseded" });
        expect((await repo.revokedCerts(T0)).map((c) => c.serial)).toEqual(["AA01"]);
        expect(await repo.isKeyRevoked("k1")).toBe(false);
        expect((await repo.getAgent("web-1"))?.spkiSha256).toBe("k2");
      }),
    );

    it(
      "prunes expired, unrevoked, superseded certificates and old tokens only",
      withRepo(async (repo) => {
        await repo.insertJoinToken(token("web-1", "h1"));
        await repo.insertJoinToken(token("web-2", "h2", LATER));
        await repo.completeEnrolment({
          tokenHash: "h1",
          now: T0,
          agent: { ...agent("web-1", "AA01", "k1"), certNotAfter: T1 },
          cert: cert("web-1", "AA01", "k1", T1),
        });
        await repo.recordRenewal({
          name: "web-1",
          spkiSha256: "k1",
          cert: cert("web-1", "AA02", "k1", T1),
          now: T0,
        });
        // AA01 expired and is no longer current; AA02 is current (kept even though expired).
        expect(await repo.pruneCerts(T2)).toBe(1);
        expect(await repo.getCert("AA01")).toBeUndefined();
        expect(await repo.getCert("AA02")).toBeDefined();
        expect(await repo.pruneJoinTokens(T2)).toBe(1);
        expect((await repo.listJoinTokens()).map((t) => t.hash)).toEqual(["h2"]);
      }),
    );
  });
}
