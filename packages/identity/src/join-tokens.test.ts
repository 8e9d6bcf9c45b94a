import { isLabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import {
  checkJoinToken,
  createJoinToken,
  hashJoinToken,
  isMachineName,
  type JoinTokenRecord,
  type JoinTokenStore,
  looksLikeJoinToken,
} from "./join-tokens.js";

/** An in-memory token store: enough for the token rules (the SQL one has its own tests). */
function memoryStore(): JoinTokenStore & { rows: Map<string, JoinTokenRecord> } {
  const rows = new Map<string, JoinTokenRecord>();
  return {
    rows,
    insertJoinToken: async (r) => {
      rows.set(r.hash, r);
    },
    findJoinToken: async (h) => rows.get(h),
    listJoinTokens: async () => [...rows.values()],
    pruneJoinTokens: async () => 0,
    spendJoinToken: async () => "unknown",
  };
}

const NOW = new Date("2026-03-01T10:00:00.000Z");

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${e}`;
  }
}

describe("join tokens", () => {
  it("are 32 random bytes with a prefix, stored only as a sha256 hash", async () => {
    const store = memoryStore();
    const token = await createJoinToken(store, { name: "web-1", createdBy: "tester", now: NOW });
    expect(looksLikeJoinToken(token)).toBe(true);
    expect(Buffer.from(token.slice(5), "base64url")).toHaveLength(32);
    const [hash, record] = [...store.rows.entries()][0] ?? [];
    expect(hash).toBe(hashJoinToken(token));
    expect(JSON.stringify(record)).not.toContain(token.slice(5));
    expect(record).toMatchObject({
      name: "web-1",
      createdBy: "tester",
      expiresAt: "2026-03-01T11:00:00.000Z",
      consumedAt: null,
    });
  });

  it("differ every time", async () => {
    const store = memoryStore();
    const a = await createJoinToken(store, { name: "web-1", createdBy: "t" });
    const b = await createJoinToken(store, { name: "web-1", createdBy: "t" });
    expect(a).not.toBe(b);
  });

  it.each([
    { what: "a zero lifetime", ttlMinutes: 0 },
    { what: "more than a week", ttlMinutes: 7 * 24 * 60 + 1 },
    { what: "a fraction", ttlMinutes: 1.5 },
  ])("refuse $what", async ({ ttlMinutes }) => {
    expect(await codeOf(createJoinToken(memoryStore(), { name: "web-1", createdBy: "t", ttlMinutes }))).toBe(
      "LAB_E_USAGE",
    );
  });

  it.each([
    { name: "web-1", ok: true },
    { name: "web-1.lab.internal", ok: false },
    { name: "Web-1", ok: false },
    { name: "-web", ok: false },
    { name: "web_1", ok: false },
    { name: "", ok: false },
    { name: `${"a".repeat(64)}`, ok: false },
    { name: "a/b", ok: false },
  ])("machine name $name: $ok", ({ name, ok }) => {
    expect(isMachineName(name)).toBe(ok);
  });

  it.each([
    { what: "a malformed token", token: "lab_1234", at: NOW, code: "LAB_E_JOIN_TOKEN_INVALID" },
    {
      what: "an unknown token",
      token: `labj_${"A".repeat(43)}`,
      at: NOW,
      code: "LAB_E_JOIN_TOKEN_INVALID",
    },
    {
      what: "an expired token",
      token: "",
      at: new Date(NOW.getTime() + 61 * 60_000),
      code: "LAB_E_JOIN_TOKEN_EXPIRED",
    },
  ])(
    "checking $what fails with $code, and the message never shows the token",
    async ({ token, at, code }) => {
      const store = memoryStore();
      const real = await createJoinToken(store, { name: "web-1", createdBy: "t", now: NOW });
      const presented = token || real;
      try {
        await checkJoinToken(store, presented, at);
        expect.unreachable();
      } catch (e) {
        expect(isLabError(e) && e.code).toBe(code);
        expect((e as Error).message).not.toContain(presented.slice(5, 20));
      }
    },
  );

  it("a consumed token is refused as used", async () => {
    const store = memoryStore();
    const token = await createJoinToken(store, { name: "web-1", createdBy: "t", now: NOW });
    const row = store.rows.get(hashJoinToken(token)) as JoinTokenRecord;
    row.consumedAt = NOW.toISOString();
    expect(await codeOf(checkJoinToken(store, token, NOW))).toBe("LAB_E_JOIN_TOKEN_USED");
  });
});
