/** Writing key material and certificates: whole files or nothing, secrets readable by root only. */
import { chmodSync, renameSync, writeFileSync } from "node:fs";

export function writeAtomic(path: string, content: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

export function writeSecret(path: string, content: string): void {
  writeAtomic(path, content, 0o600);
  chmodSync(path, 0o600);
}
