/**
 * API tokens: `lab_<id>_<secret>`, 32 random bytes of secret. Only a SHA-256 hash is stored
 * (the secret has full entropy, so a slow hash adds nothing). Scopes nest:
 * admin ⊃ write ⊃ read; `puppet` and `autosign` grant none of them, only the routes that ask
 * for them by name.
 */
import { createHash, randomBytes } from "node:crypto";
import { type ApiToken, LabError, type Scope, type TokenStore } from "@lab/core";

const TOKEN = /^lab_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;
/** Rank 0: a scope that stands apart and is granted only by name. */
const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3, puppet: 0, autosign: 0 };

export interface Principal {
  tokenId: string;
  name: string;
  scopes: Scope[];
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export async function createToken(
  store: TokenStore,
  opts: { name: string; scopes: Scope[]; createdBy: string; ttlDays?: number; id?: string },
): Promise<{ token: string; record: ApiToken }> {
  const id = opts.id ?? randomBytes(4).toString("hex");
  const token = `lab_${id}_${randomBytes(32).toString("base64url")}`;
  const now = new Date();
  const record: ApiToken = {
    id,
    name: opts.name,
    scopes: opts.scopes,
    createdAt: now.toISOString(),
    createdBy: opts.createdBy,
    expiresAt: opts.ttlDays ? new Date(now.getTime() + opts.ttlDays * 86_400_000).toISOString() : null,
    lastUsedAt: null,
    revokedAt: null,
  };
  await store.createToken(record, hashToken(token));
  return { token, record };
}

/** The principal a bearer token stands for, or a 401 that says why. */
export async function authenticate(store: TokenStore, header: string | undefined): Promise<Principal> {
  if (!header) throw new LabError("LAB_E_UNAUTHENTICATED", "no token: send `Authorization: Bearer lab_…`");
  const token = tokenOf(header);
  if (!TOKEN.test(token)) throw new LabError("LAB_E_UNAUTHENTICATED", "the token is malformed");
  const record = await store.findTokenByHash(hashToken(token));
  if (!record) throw new LabError("LAB_E_UNAUTHENTICATED", "the token is not known to this server");
  if (record.revokedAt) throw new LabError("LAB_E_UNAUTHENTICATED", `token ${record.id} was revoked`);
  if (record.expiresAt && Date.parse(record.expiresAt) < Date.now()) {
    throw new LabError("LAB_E_UNAUTHENTICATED", `token ${record.id} expired at ${record.expiresAt}`);
  }
  return { tokenId: record.id, name: record.name, scopes: record.scopes };
}

/**
 * The token in `Bearer TOKEN`, or the password of HTTP Basic auth: Puppet's http report
 * processor can only send credentials as the reporturl's `user:password@`.
 */
function tokenOf(header: string): string {
  const basic = /^Basic\s+(\S+)$/i.exec(header.trim());
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, "base64").toString("utf8");
    return decoded.slice(decoded.indexOf(":") + 1).trim();
  }
  return header.replace(/^Bearer\s+/i, "").trim();
}

/** Refuses unless the token has one of `needed` (a nested scope counts as having the ones below). */
export function requireScope(p: Principal, needed: Scope | Scope[]): void {
  const anyOf = Array.isArray(needed) ? needed : [needed];
  const best = Math.max(0, ...p.scopes.map((s) => RANK[s]));
  const ok = anyOf.some((n) => (RANK[n] === 0 ? p.scopes.includes(n) : best >= RANK[n]));
  if (!ok) {
    throw new LabError(
      "LAB_E_FORBIDDEN",
      `token ${p.tokenId} (${p.scopes.join(",")}) lacks the ${anyOf.join(" or ")} scope`,
    );
  }
}

/**
 * Authentication on the request path without a database round trip per request: verdicts
 * are cached for a couple of seconds (a revocation through this server takes effect at
 * once; through another replica within the TTL), and `lastUsedAt` is written at most once a
 * minute per token instead of an fsync'd UPDATE per request.
 */
export class Authenticator {
  private readonly verdicts = new Map<string, { at: number; principal?: Principal; error?: unknown }>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: TokenStore,
    private readonly ttlMs = 2000,
    private readonly touchEveryMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached verdict, without waiting, or undefined when the store must be asked. */
  peek(header: string | undefined): Principal | undefined {
    const cached = this.verdicts.get(header ?? "");
    if (!cached || this.now() - cached.at >= this.ttlMs) return undefined;
    if (cached.error) throw cached.error;
    return cached.principal;
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    const key = header ?? "";
    const cached = this.verdicts.get(key);
    const now = this.now();
    let principal: Principal;
    if (cached && now - cached.at < this.ttlMs) {
      if (cached.error) throw cached.error;
      principal = cached.principal as Principal;
    } else {
      if (this.verdicts.size > 10_000) this.verdicts.clear(); // bounded: a flood of bad tokens
      try {
        principal = await authenticate(this.store, header);
        this.verdicts.set(key, { at: now, principal });
      } catch (e) {
        this.verdicts.set(key, { at: now, error: e });
        throw e;
      }
    }
    const last = this.touched.get(principal.tokenId) ?? 0;
    if (now - last >= this.touchEveryMs) {
      this.touched.set(principal.tokenId, now);
      void this.store.touchToken(principal.tokenId, new Date(now).toISOString()).catch(() => undefined);
    }
    return principal;
  }

  /** Forgets cached verdicts (after a revocation). */
  forget(): void {
    this.verdicts.clear();
  }
}
