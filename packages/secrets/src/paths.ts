/**
 * Where the store keeps its data and its key. They are apart on purpose: the vault file sits
 * with Lab's data (LAB_HOME/secrets/), the key under LAB_HOME/keys/ or wherever
 * LAB_SECRETS_KEY_FILE points (another disk, a mounted token), and neither is inside the
 * state database that `lab state backup` and the PostgreSQL dumps copy.
 */
import { join } from "node:path";

export interface VaultPaths {
  dataFile: string;
  keyFile: string;
}

export function vaultPaths(home: string, env: NodeJS.ProcessEnv = process.env): VaultPaths {
  return {
    dataFile: env.LAB_SECRETS_DATA_FILE ?? join(home, "secrets", "vault.db"),
    keyFile: env.LAB_SECRETS_KEY_FILE ?? join(home, "keys", "secrets.age"),
  };
}

/** The Puppet module path: LAB_PUPPET_MODULEPATH, colon-separated like Puppet's own. */
export function modulePathFrom(env: NodeJS.ProcessEnv = process.env, flag?: string): string[] {
  const text = flag ?? env.LAB_PUPPET_MODULEPATH ?? "";
  return text.split(":").filter(Boolean);
}
