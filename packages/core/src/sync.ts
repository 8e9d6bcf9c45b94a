/**
 * The SYNC pillar: the last comparison of a server's spec with what its provider reported
 * (`lab diff|sync|apply server`). Kept per server like Puppet's last run; never inferred.
 */
import type { PillarState } from "./views.js";

export interface SyncObservation {
  server: string;
  provider: string;
  observedAt: string;
  /** sync: no differences; drift: some; absent: the provider has no such resource; failed: it did not answer. */
  state: "sync" | "drift" | "absent" | "failed";
  /** One line: "2 differences: memory, extra_disk", the error's message. */
  summary: string;
  differences: { field: string; kind: string; spec: string | null; observed: string | null }[];
  /** The error's code when the provider could not be asked. */
  code?: string;
}

export interface SyncStore {
  /** Keeps `o` as its server's latest; resolves to the one it replaced, if any. */
  putSyncObservation(o: SyncObservation): Promise<SyncObservation | undefined>;
  syncObservations(): Promise<SyncObservation[]>;
  deleteSyncObservation(server: string): Promise<void>;
}

/** ✓ sync / ⚠ drift / ✗ failed, as the design's `lab get servers` shows them. */
export function syncPillar(o: SyncObservation): PillarState {
  if (o.state === "sync") return { state: "ok", text: "sync" };
  if (o.state === "drift") return { state: "warning", text: "drift" };
  if (o.state === "absent") return { state: "failed", text: "absent" };
  return { state: "failed", text: "failed" };
}

/** The pillar before any comparison, with the command that makes one. */
export function neverCompared(server: string, provider: string): PillarState {
  return {
    state: "none",
    text: "—",
    reason: `never compared with provider "${provider}": \`lab diff server ${server}\` compares it`,
  };
}
