/**
 * Policy-filtered fetches: what a store serves to a machine that proved who it is with its
 * enrolled certificate (mTLS; the listener has already checked chain, dates and CRL). The
 * machine's name is the certificate's, never something the request says. Every fetch is
 * checked against the compiled policy at that moment: default deny, exclusions win.
 *
 *   GET /secrets/v1                    the entitled set: names, versions, TTLs (no values)
 *   GET /secrets/v1/values/<path>      one value (base64), if entitled and set
 *                                      (?version=N: a replaced one, during its grace period)
 */
import type http from "node:http";
import { type LabCode, LabError, type NewAuditEvent } from "@lab/core";
import { type CompiledPolicy, isEntitled, type MachinePolicy } from "./policy.js";
import type { SealedRow, VaultReader } from "./vault.js";

export const SECRETS_PATH = "/secrets/v1";

export interface FetchPeer {
  name: string;
  serial: string;
}

export interface EntitledSecret {
  name: string;
  /** null: entitled but never set (the machine cannot have it yet). */
  version: number | null;
  setAt: string | null;
  /** Seconds the machine may serve its cached copy before asking again; null: no expiry. */
  ttlSeconds: number | null;
}

export interface FetchedSecret {
  name: string;
  version: number;
  setAt: string;
  ttlSeconds: number | null;
  /** base64 */
  value: string;
}

/** What a replica pulls from the primary: ciphertexts, the compiled policy, revocations, TLS. */
export interface ReplicaBundle {
  at: string;
  rows: SealedRow[];
  /** machine → the secrets it may read, with the vault path of its value and the TTL. */
  machines: Record<string, { name: string; path: string; ttlSeconds: number | null }[]>;
  revoked: { names: string[]; serials: string[] };
  caPem: string;
  /** The replica's own server certificate (its agent certificate is for client auth only). */
  tls: { certPem: string; keyPem: string };
}

export interface StoreServiceOptions {
  vault: VaultReader;
  /** For a `secret-store` machine: everything a replica needs (GET /secrets/v1/replica). */
  replica?: (machine: string, everyMs: number | null) => Promise<ReplicaBundle>;
  /** Where a machine's value of a secret is stored (per-machine secrets: `name@machine`). */
  vaultPath?: (machine: string, name: string) => Promise<string>;
  /** The policy as of now (the host caches it by model revision). */
  policy: () => Promise<CompiledPolicy>;
  /** Is this certificate still Lab's and not revoked? Asked on every request. */
  peerValid: (peer: FetchPeer) => Promise<boolean>;
  /** TTL per secret (from its rotation schedule); default none. */
  ttl?: (name: string, setAt: string) => number | null;
  /** Refusals go to the audit log (successful fetches are kept as "last fetched" instead). */
  record?: (event: NewAuditEvent) => Promise<void>;
  /** The store's own name in replies (which replica answered). */
  storeName?: string;
}

export class SecretStoreService {
  constructor(private readonly opts: StoreServiceOptions) {}

  async entitled(machine: string): Promise<EntitledSecret[]> {
    const policy = await this.policyFor(machine);
    const paths = new Map<string, string>();
    for (const g of policy?.grants ?? []) {
      paths.set(g.secret, this.opts.vaultPath ? await this.opts.vaultPath(machine, g.secret) : g.secret);
    }
    const meta = new Map(this.opts.vault.list().map((m) => [m.path, m]));
    return (policy?.grants ?? []).map((g) => {
      const m = meta.get(paths.get(g.secret) ?? g.secret);
      return {
        name: g.secret,
        version: m?.version ?? null,
        setAt: m?.setAt ?? null,
        ttlSeconds: m ? (this.opts.ttl?.(g.secret, m.setAt) ?? null) : null,
      };
    });
  }

  async fetch(machine: string, name: string, version?: number): Promise<FetchedSecret> {
    const policy = await this.policyFor(machine);
    if (!isEntitled(policy, name)) {
      // Same answer whether or not the secret exists: a refusal says nothing about the store.
      await this.refused(machine, name, "not entitled");
      throw new LabError("LAB_E_SECRET_DENIED", `${machine} may not read "${name}"`);
    }
    const path = this.opts.vaultPath ? await this.opts.vaultPath(machine, name) : name;
    const v = await this.opts.vault.get(path, version);
    this.opts.vault.recordFetch(machine, name, v.version);
    return {
      name,
      version: v.version,
      setAt: v.setAt,
      ttlSeconds: this.opts.ttl?.(name, v.setAt) ?? null,
      value: Buffer.from(v.value).toString("base64"),
    };
  }

  /** The HTTP side; false when the request is not for the store. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, peer: FetchPeer): Promise<boolean> {
    const url = new URL(req.url ?? "/", "https://store");
    if (url.pathname !== SECRETS_PATH && !url.pathname.startsWith(`${SECRETS_PATH}/`)) return false;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    const fail = (e: unknown) => {
      const err = e instanceof LabError ? e : new LabError("LAB_E_INTERNAL", "the store failed to answer");
      send(err.httpStatus, { error: { code: err.code, message: err.message, hint: err.hint } });
    };
    try {
      if (req.method !== "GET") throw new LabError("LAB_E_BAD_REQUEST", "the store answers GET only");
      if (!(await this.opts.peerValid(peer))) {
        await this.refused(peer.name, url.pathname, "revoked or unknown certificate");
        throw new LabError("LAB_E_AGENT_REVOKED", `${peer.name}'s certificate is revoked or unknown`);
      }
      const store = this.opts.storeName ?? null;
      if (url.pathname === `${SECRETS_PATH}/replica`) {
        if (!this.opts.replica) throw new LabError("LAB_E_NOT_FOUND", "this store has no replicas to serve");
        const every = url.searchParams.get("every");
        send(
          200,
          await this.opts.replica(peer.name, every && /^\d{1,9}$/.test(every) ? Number(every) : null),
        );
      } else if (url.pathname === SECRETS_PATH) {
        send(200, { machine: peer.name, store, secrets: await this.entitled(peer.name) });
      } else if (url.pathname.startsWith(`${SECRETS_PATH}/values/`)) {
        const name = decodeURIComponent(url.pathname.slice(`${SECRETS_PATH}/values/`.length));
        // ?version=N: a replaced value, while its grace period lasts.
        const v = url.searchParams.get("version");
        const version = v && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
        send(200, { machine: peer.name, store, ...(await this.fetch(peer.name, name, version)) });
      } else throw new LabError("LAB_E_NOT_FOUND", `no route ${url.pathname}`);
    } catch (e) {
      fail(e);
    }
    return true;
  }

  private async policyFor(machine: string): Promise<MachinePolicy | undefined> {
    return (await this.opts.policy()).machines.get(machine);
  }

  private async refused(machine: string, what: string, why: string): Promise<void> {
    const code: LabCode = "LAB_E_SECRET_DENIED";
    await this.opts
      .record?.({
        actor: `agent:${machine}`,
        action: "secret.denied",
        result: "error",
        summary: `${machine} refused ${what}: ${why} (${code})`,
        changes: [],
        subjects: [`server/${machine}`],
      })
      .catch(() => undefined);
  }
}
