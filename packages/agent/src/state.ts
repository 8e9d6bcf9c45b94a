/**
 * The agent's state dir: key.pem (0600, never leaves the machine), cert.pem, ca.pem,
 * agent.json (who it is, where the server is, when to renew) and ssh/ (host certificates).
 * Every file is replaced atomically, so a power cut leaves the old or the new, never half.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { z } from "zod";

const agentJsonSchema = z.object({
  name: z.string(),
  server: z.string(),
  channelUrl: z.string(),
  serial: z.string(),
  notAfter: z.string(),
  renewAfter: z.string(),
  maxOfflineDays: z.number(),
  enrolledAt: z.string(),
  renewedAt: z.string().nullable().optional(),
});
export type AgentInfo = z.infer<typeof agentJsonSchema>;

export interface AgentState {
  info: AgentInfo;
  keyPem: string;
  certPem: string;
  caPem: string;
}

export const STATE_FILES = { key: "key.pem", cert: "cert.pem", ca: "ca.pem", info: "agent.json" } as const;

/** The state dir, created 0700 if missing. */
export function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } catch (e) {
    throw new LabError("LAB_E_AGENT_STATE", `cannot use ${dir} as the state dir: ${(e as Error).message}`);
  }
}

/** The enrolled state, or undefined when the agent has not enrolled (no cert yet). */
export function loadState(dir: string): AgentState | undefined {
  const path = (f: string) => join(dir, f);
  if (!existsSync(path(STATE_FILES.cert)) || !existsSync(path(STATE_FILES.info))) return undefined;
  for (const f of [STATE_FILES.key, STATE_FILES.ca]) {
    if (!existsSync(path(f))) {
      throw new LabError("LAB_E_AGENT_STATE", `${path(f)} is missing but ${STATE_FILES.cert} exists`);
    }
  }
  const keyMode = statSync(path(STATE_FILES.key)).mode & 0o077;
  if (keyMode !== 0) {
    // Someone loosened it: tighten rather than refuse, and say so.
    chmodSync(path(STATE_FILES.key), 0o600);
  }
  let info: AgentInfo;
  try {
    info = agentJsonSchema.parse(JSON.parse(readFileSync(path(STATE_FILES.info), "utf8")));
  } catch (e) {
    throw new LabError("LAB_E_AGENT_STATE", `${path(STATE_FILES.info)} is damaged: ${(e as Error).message}`);
  }
  return {
    info,
    keyPem: readFileSync(path(STATE_FILES.key), "utf8"),
    certPem: readFileSync(path(STATE_FILES.cert), "utf8"),
    caPem: readFileSync(path(STATE_FILES.ca), "utf8"),
  };
}

/** Writes the key first (0600): a crash before the cert leaves an un-enrolled state, not a broken one. */
export function saveKey(dir: string, keyPem: string): void {
  writeAtomic(join(dir, STATE_FILES.key), keyPem, 0o600);
}

/** Records a (new) certificate and what goes with it; the key must already be saved. */
export function saveCertificate(dir: string, state: Omit<AgentState, "keyPem">): void {
  writeAtomic(join(dir, STATE_FILES.ca), state.caPem, 0o644);
  writeAtomic(join(dir, STATE_FILES.cert), state.certPem, 0o644);
  writeAtomic(join(dir, STATE_FILES.info), `${JSON.stringify(state.info, null, 2)}\n`, 0o644);
}

/** Forgets the enrolment (cert and agent.json) so that a new join token can be used. */
export function forgetEnrolment(dir: string): void {
  for (const f of [STATE_FILES.cert, STATE_FILES.info]) rmSync(join(dir, f), { force: true });
}

/** Writes SSH host certificates into ssh/ (for sshd's HostCertificate lines). */
export function saveHostCertificates(dir: string, certs: string[]): string[] {
  const sshDir = join(dir, "ssh");
  mkdirSync(sshDir, { recursive: true, mode: 0o755 });
  const written: string[] = [];
  for (const line of certs) {
    const type = /^([a-z0-9-]+)-cert-v01@openssh\.com /.exec(line)?.[1];
    if (!type) continue;
    const file = join(sshDir, `${type.replace(/^ssh-/, "").replace(/^ecdsa-sha2-/, "ecdsa-")}-cert.pub`);
    writeAtomic(file, `${line.trim()}\n`, 0o644);
    written.push(file);
  }
  return written;
}

function writeAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new LabError("LAB_E_AGENT_STATE", `cannot write ${path}: ${(e as Error).message}`);
  }
}
