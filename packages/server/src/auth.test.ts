import type { ApiToken, TokenStore } from "@lab/core";
import { describe, expect, it } from "vitest";
import { Authenticator, authenticate, createToken, requireScope } from "./auth.js";

/** An in-memory TokenStore that counts calls (unit test of the caching only). */
class CountingTokens implements TokenStore {
  readonly tokens = new Map<string, { token: ApiToken; hash: string }>();
  lookups = 0;
  touches = 0;
  async createToken(token: ApiToken, hash: string) {
    this.tokens.set(token.id, { token, hash });
  }
  async findTokenByHash(hash: string) {
    this.lookups++;
    return [...this.tokens.values()].find((t) => t.hash === hash)?.token;
  }
  async listTokens() {
    return [...this.tokens.values()].map((t) => t.token);
  }
  async revokeToken(id: string, at: string) {
    const t = this.tokens.get(id);
    if (t) t.token = { ...t.token, revokedAt: at };
    return Boolean(t);
  }
  async touchToken() {
    this.touches++;
  }
}

describe("Authenticator", () => {
  it("looks a token up once per TTL and writes lastUsedAt once a minute", async () => {
    let now = 1_000_000;
    const store = new CountingTokens();
    const { token } = await createToken(store, { name: "t", scopes: ["read"], createdBy: "test" });
    const auth = new Authenticator(store, 2000, 60_000, () => now);
    for (let i = 0; i < 100; i++) await auth.authenticate(`Bearer ${token}`);
    expect([store.lookups, store.touches]).toEqual([1, 1]);
    now += 2500;
    await auth.authenticate(`Bearer ${token}`);
    expect([store.lookups, store.touches]).toEqual([2, 1]);
    now += 60_000;
    await auth.authenticate(`Bearer ${token}`);
    expect(store.touches).toBe(2);
  });

  it("refuses a revoked token at once after forget(), and caches refusals too", async () => {
    const store = new CountingTokens();
    const { token, record } = await createToken(store, { name: "t", scopes: ["read"], createdBy: "test" });
    const auth = new Authenticator(store);
    await auth.authenticate(`Bearer ${token}`);
    await store.revokeToken(record.id, new Date().toISOString());
    auth.forget();
    await expect(auth.authenticate(`Bearer ${token}`)).rejects.toMatchObject({
      code: "LAB_E_UNAUTHENTICATED",
    });
    const before = store.lookups;
    await expect(auth.authenticate("Bearer lab_00000000_nope")).rejects.toMatchObject({
      code: "LAB_E_UNAUTHENTICATED",
    });
    await expect(auth.authenticate(`Bearer ${token}`)).rejects.toMatchObject({
      code: "LAB_E_UNAUTHENTICATED",
    });
    expect(store.lookups).toBe(before);
  });
});

describe("Authenticator.peek", () => {
  it("answers from the cache without the store, and only within the TTL", async () => {
    let now = 0;
    const store = new CountingTokens();
    const { token } = await createToken(store, { name: "t", scopes: ["read"], createdBy: "test" });
    const auth = new Authenticator(store, 2000, 60_000, () => now);
    expect(auth.peek(`Bearer ${token}`)).toBeUndefined();
    await auth.authenticate(`Bearer ${token}`);
    expect(auth.peek(`Bearer ${token}`)?.name).toBe("t");
    now += 2000;
    expect(auth.peek(`Bearer ${token}`)).toBeUndefined();
  });
});

describe("scopes and credentials", () => {
  it("HTTP Basic carries a token as its password (Puppet's reporturl user:password@)", async () => {
    const store = new CountingTokens();
    const { token } = await createToken(store, {
      name: "puppetserver",
      scopes: ["puppet"],
      createdBy: "test",
    });
    const basic = `Basic ${Buffer.from(`puppet:${token}`).toString("base64")}`;
    expect((await authenticate(store, basic)).name).toBe("puppetserver");
    const wrong = `Basic ${Buffer.from("puppet:lab_00000000_nope").toString("base64")}`;
    await expect(authenticate(store, wrong)).rejects.toMatchObject({ code: "LAB_E_UNAUTHENTICATED" });
  });

  it.each([
    { has: ["puppet"], needs: ["read"], ok: false },
    { has: ["puppet"], needs: ["read", "puppet"], ok: true },
    { has: ["puppet"], needs: ["write", "puppet"], ok: true },
    { has: ["read"], needs: ["write", "puppet"], ok: false },
    { has: ["read"], needs: ["read", "puppet"], ok: true },
    { has: ["admin"], needs: ["write", "puppet"], ok: true },
    { has: ["admin"], needs: ["puppet"], ok: false },
    { has: ["autosign"], needs: ["admin", "autosign"], ok: true },
    { has: ["puppet"], needs: ["admin", "autosign"], ok: false },
    { has: ["autosign"], needs: ["read", "puppet"], ok: false },
    { has: ["admin"], needs: ["admin", "autosign"], ok: true },
  ] as const)("a $has token on a route needing $needs: $ok", ({ has, needs, ok }) => {
    const check = () => requireScope({ tokenId: "t", name: "t", scopes: [...has] }, [...needs]);
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(/lacks the/);
  });
});
