/**
 * One-time join tokens: made per machine name when Lab provisions or onboards it, handed to
 * the machine (cloud-init, iPXE userdata, a file), and spent by the agent's first enrolment.
 * 32 random bytes; only a SHA-256 hash is stored (full entropy, so a slow hash adds nothing).
 * A token is consumed atomically together with the enrolment it authorises, so a replay is
 * refused; an expired one is refused too. The token itself is never logged or stored.
 */
import { createHash, randomBytes } from "node:crypto";
import { checkServerName, LabError, SERVER_NAME } from "@lab/core";

export const JOIN_TOKEN_PREFIX = "labj_";
const TOKEN = /^labj_[A-Za-z0-9_-]{43}$/;

export const DEFAULT_JOIN_TOKEN_TTL_MINUTES = 60;
/** A week: longer-lived tokens are standing secrets, which is what join tokens replace. */
export const MAX_JOIN_TOKEN_TTL_MINUTES = 7 * 24 * 60;

export interface JoinTokenRecord {
  /** sha256 (hex) of the token. */
  hash: string;
  name: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string;
  consumedAt: string | null;
}

/** Storage of join tokens (the store package implements it over SQLite and PostgreSQL). */
export interface JoinTokenStore {
  insertJoinToken(record: JoinTokenRecord): Promise<void>;
  findJoinToken(hash: string): Promise<JoinTokenRecord | undefined>;
  /** Tokens, newest first (optionally for one machine); never the secrets, which are not stored. */
  listJoinTokens(name?: string): Promise<JoinTokenRecord[]>;
  /** Deletes tokens that expired or were consumed before `before`; returns how many. */
  pruneJoinTokens(before: string): Promise<number>;
  /**
   * Spends a token for machine `name` on its own (Puppet's autosigning; an agent's enrolment
   * spends it inside completeEnrolment): true, or why not, decided in one conditional write.
   */
  spendJoinToken(input: { hash: string; name: string; now: string }): Promise<true | JoinTokenRefusal>;
}

/** Why a token cannot be spent. */
export type JoinTokenRefusal = "unknown" | "used" | "expired";

/** True when `name` is a name an agent may enrol as: the model's server-name rule. */
export function isMachineName(name: string): boolean {
  return SERVER_NAME.test(name);
}

/** Throws LAB_E_SERVER_NAME unless `name` is a server name. */
export function assertMachineName(name: string): void {
  checkServerName(name);
}

/** The stored form of a token. */
export function hashJoinToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Whether `text` has the shape of a join token (a cheap check before any lookup). */
export function looksLikeJoinToken(text: string): boolean {
  return TOKEN.test(text);
}

/** Creates a single-use join token for machine `name`; returns the token (shown once). */
export async function createJoinToken(
  repo: JoinTokenStore,
  opts: { name: string; ttlMinutes?: number; createdBy: string; now?: Date },
): Promise<string> {
  assertMachineName(opts.name);
  const ttl = opts.ttlMinutes ?? DEFAULT_JOIN_TOKEN_TTL_MINUTES;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_JOIN_TOKEN_TTL_MINUTES) {
    throw new LabError(
      "LAB_E_USAGE",
      `a join token lives 1 to ${MAX_JOIN_TOKEN_TTL_MINUTES} minutes, not ${opts.ttlMinutes}`,
    );
  }
  const now = opts.now ?? new Date();
  const token = `${JOIN_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  await repo.insertJoinToken({
    hash: hashJoinToken(token),
    name: opts.name,
    createdAt: now.toISOString(),
    createdBy: opts.createdBy,
    expiresAt: new Date(now.getTime() + ttl * 60_000).toISOString(),
    consumedAt: null,
  });
  return token;
}

/** What is wrong with a token record at `now`, or undefined when it can still be spent. */
export function joinTokenRefusal(
  record: JoinTokenRecord | undefined,
  now: Date,
): JoinTokenRefusal | undefined {
  if (!record) return "unknown";
  if (record.consumedAt) return "used";
  if (Date.parse(record.expiresAt) <= now.getTime()) return "expired";
  return undefined;
}

/** The error for a refused token. The message never contains the token. */
export function joinTokenError(refusal: JoinTokenRefusal, record?: JoinTokenRecord): LabError {
  switch (refusal) {
    case "unknown":
      return new LabError("LAB_E_JOIN_TOKEN_INVALID", "the join token is not known to this server");
    case "used":
      return new LabError(
        "LAB_E_JOIN_TOKEN_USED",
        `the join token for "${record?.name}" was already used at ${record?.consumedAt}`,
      );
    case "expired":
      return new LabError(
        "LAB_E_JOIN_TOKEN_EXPIRED",
        `the join token for "${record?.name}" expired at ${record?.expiresAt}`,
      );
  }
}

/**
 * Looks a presented token up without spending it: the record it names, or the error that
 * says why it cannot be used. Spending happens in the enrolment's transaction.
 */
export async function checkJoinToken(
  repo: JoinTokenStore,
  token: string,
  now: Date,
): Promise<JoinTokenRecord> {
  if (!looksLikeJoinToken(token)) {
    throw new LabError("LAB_E_JOIN_TOKEN_INVALID", "the join token is malformed (expected labj_…)");
  }
  const record = await repo.findJoinToken(hashJoinToken(token));
  const refusal = joinTokenRefusal(record, now);
  if (refusal) throw joinTokenError(refusal, record);
  return record as JoinTokenRecord;
}
