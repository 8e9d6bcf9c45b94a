/**
 * A secret-store replica: runs inside `lab agent` on a machine with the `secret-store` label.
 * It pulls the complete encrypted set, the compiled policy and the revocations from the
 * primary (lab server) over its own mTLS identity, keeps them on disk (rows are ciphertext;
 * the snapshot file is 0600), and serves the same policy-filtered fetches on its own port —
 * also while the primary is down. It decrypts with the store key, given to store nodes out of
 * band (`--secret-store-key`); without the right key it serves nothing.
 *
 * Replicas never talk to each other: each follows the primary, so two replicas hold the same
 * rows one sync apart.
 */

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import https, { createServer, type Server } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { LabError } from "@lab/core";
import { isIdentity, macKey, unsealRow } from "./age.js";
import type { MachineCredentials } from "./client.js";
import type { CompiledPolicy } from "./policy.js";
import { type ReplicaBundle, SECRETS_PATH, SecretStoreService } from "./store-service.js";
import type { SealedRow, SecretMeta, SecretValue, VaultReader } from "./vault.js";

export interface ReplicaOptions {
  /** Where the snapshot lives (the agent's state dir /secret-store). */
  dir: string;
  /** The store's age key. */
  keyFile: string;
  /** The primary (the store inside lab server), e.g. https://lab:7444. */
  primary: string;
  creds: MachineCredentials;
  name: string;
  listen: { host: string; port: number };
  syncMs?: number;
  log?: (line: string) => void;
}

/** The replica's copy of the rows, as a vault the store service can read. */
class RowVault implements VaultReader {
  private rows: SealedRow[] = [];
  private readonly mac: Buffer;
  constructor(private readonly identity: string) {
    this.mac = macKey(identity);
  }
  replace(rows: SealedRow[]): void {
    this.rows = rows;
  }
  list(): SecretMeta[] {
    const out = new Map<string, SecretMeta>();
    for (const r of this.rows) {
      if (r.retiredAt === null)
        out.set(r.path, {
          path: r.path,
          version: r.version,
          setAt: r.setAt,
          setBy: r.setBy,
          source: r.source,
          previous: [],
        });
    }
    return [...out.values()];
  }
  async get(path: string, version?: number): Promise<SecretValue> {
    const row = this.rows.find(
      (r) => r.path === path && (version === undefined ? r.retiredAt === null : r.version === version),
    );
    if (!row) throw new LabError("LAB_E_SECRET_NOT_SET", `secret "${path}" has no value in this store`);
    return {
      path,
      version: row.version,
      value: await unsealRow(row, this.identity, this.mac),
      setAt: row.setAt,
      setBy: row.setBy,
    };
  }
  /** Throws unless the row opens with this key and carries a valid MAC. */
  async check(row: SealedRow): Promise<void> {
    await unsealRow(row, this.identity, this.mac);
  }
  recordFetch(): void {
    // The primary keeps "last fetched"; a replica's fetches are not reported back yet.
  }
}

export class StoreReplica {
  private bundle?: ReplicaBundle;
  private readonly vault: RowVault;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private boundPort = 0;
  lastSync: { at: string; ok: boolean; error?: string } | null = null;

  constructor(private readonly opts: ReplicaOptions) {
    const text = readFileSync(opts.keyFile, "utf8");
    const identity = text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l && !l.startsWith("#"));
    if (!identity || !isIdentity(identity)) {
      throw new LabError("LAB_E_SECRET_KEY", `${opts.keyFile} holds no age identity (AGE-SECRET-KEY-1…)`);
    }
    this.vault = new RowVault(identity);
  }

  private get snapshotFile(): string {
    return join(this.opts.dir, "snapshot.json");
  }

  /** Loads the last snapshot (so it serves at once), syncs, listens, and keeps syncing. */
  async start(): Promise<{ port: number }> {
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
    if (existsSync(this.snapshotFile))
      this.use(JSON.parse(readFileSync(this.snapshotFile, "utf8")) as ReplicaBundle);
    await this.sync();
    if (!this.bundle) {
      throw new LabError(
        "LAB_E_SECRET_STORE_UNREACHABLE",
        `no snapshot yet and the primary did not answer (${this.lastSync?.error})`,
      );
    }
    const service = new SecretStoreService({
      vault: this.vault,
      storeName: this.opts.name,
      policy: async () => this.policy(),
      vaultPath: async (machine, name) => this.entry(machine, name)?.path ?? name,
      ttl: () => null,
      peerValid: async (peer) => {
        const r = this.bundle?.revoked;
        return Boolean(r && !r.names.includes(peer.name) && !r.serials.includes(peer.serial.toUpperCase()));
      },
    });
    const b = this.bundle;
    const server = createServer(
      {
        key: b.tls.keyPem,
        cert: `${b.tls.certPem}`,
        ca: b.caPem,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
      },
      (req, res) => {
        const cert = (req.socket as TLSSocket).getPeerCertificate();
        const name = typeof cert.subject?.CN === "string" ? cert.subject.CN : "";
        const serial = (cert.serialNumber ?? "").toUpperCase();
        void service.handle(req, res, { name, serial }).then((done) => {
          if (!done) {
            res.writeHead(404, { "content-type": "application/json" });
            res.end(
              JSON.stringify({
                error: { code: "LAB_E_NOT_FOUND", message: `a secret store serves ${SECRETS_PATH}` },
              }),
            );
          }
        });
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => resolve());
    });
    this.server = server;
    const a = server.address();
    this.boundPort = typeof a === "object" && a ? a.port : this.opts.listen.port;
    this.timer = setInterval(() => void this.sync(), this.opts.syncMs ?? 10_000);
    this.timer.unref();
    this.opts.log?.(
      `secret store: serving ${this.vault.list().length} secrets on ${this.opts.listen.host}:${this.boundPort}`,
    );
    return { port: this.boundPort };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    const s = this.server;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Pulls the bundle from the primary; keeps the last one when it does not answer. */
  async sync(): Promise<void> {
    try {
      const bundle = await pull(this.opts.primary, this.opts.creds, this.opts.syncMs ?? 10_000);
      // Every row must open with this replica's key before it is taken.
      for (const r of bundle.rows.filter((x) => x.retiredAt === null)) {
        await this.vault.check(r);
      }
      const tmp = `${this.snapshotFile}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(bundle), { mode: 0o600 });
      renameSync(tmp, this.snapshotFile);
      this.use(bundle);
      this.lastSync = { at: new Date().toISOString(), ok: true };
    } catch (e) {
      const error = `${e instanceof LabError ? e.code : "error"}: ${(e as Error).message}`;
      if (this.lastSync?.error !== error)
        this.opts.log?.(`secret store: sync failed (${error}); serving the last snapshot`);
      this.lastSync = { at: new Date().toISOString(), ok: false, error };
    }
  }

  private use(bundle: ReplicaBundle): void {
    this.bundle = bundle;
    this.vault.replace(bundle.rows);
  }

  private entry(machine: string, name: string) {
    return this.bundle?.machines[machine]?.find((e) => e.name === name);
  }

  private policy(): CompiledPolicy {
    const machines: CompiledPolicy["machines"] = new Map();
    for (const [machine, list] of Object.entries(this.bundle?.machines ?? {})) {
      machines.set(machine, {
        machine,
        grants: list.map((e) => ({ secret: e.name, chains: [] })),
        excluded: [],
      });
    }
    return { machines, codeScanned: false };
  }
}

/** `every` tells the primary how often to expect this replica, so it can tell one that fell behind. */
function pull(primary: string, creds: MachineCredentials, everyMs: number): Promise<ReplicaBundle> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(`${SECRETS_PATH}/replica?every=${everyMs}`, primary),
      { key: creds.keyPem, cert: creds.certPem, ca: creds.caPem, timeout: 10_000, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            if (res.statusCode === 200) return resolve(body as ReplicaBundle);
            reject(
              new LabError(
                body.error?.code ?? "LAB_E_INTERNAL",
                body.error?.message ?? `HTTP ${res.statusCode}`,
              ),
            );
          } catch {
            reject(
              new LabError("LAB_E_SECRET_STORE_UNREACHABLE", `HTTP ${res.statusCode} without a store reply`),
            );
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer")));
    req.on("error", (e) =>
      reject(new LabError("LAB_E_SECRET_STORE_UNREACHABLE", (e as NodeJS.ErrnoException).code ?? e.message)),
    );
    req.end();
  });
}
