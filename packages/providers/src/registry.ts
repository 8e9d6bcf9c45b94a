/**
 * Which provider a server's `provider:` names, configured from the environment of the process
 * that runs it (the CLI in local mode, lab server): docs/providers.md lists the settings.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { AwsProvider } from "./aws.js";
import { LibvirtProvider } from "./libvirt.js";
import type { SizeCatalogue } from "./sizes.js";
import { SshProvider } from "./ssh.js";
import type { Provider } from "./types.js";

export const PROVIDERS = ["ssh", "baremetal", "libvirt", "aws"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface RegistryOptions {
  env: NodeJS.ProcessEnv;
  /** The Lab home of the process (where providers keep their records); default LAB_HOME or ~/.lab. */
  home?: string;
  sizes?: SizeCatalogue;
  /** Providers built by the caller (bare metal needs the provisioner and power control). */
  extra?: Partial<Record<string, () => Provider>>;
}

/** A factory per provider name; each provider is built once, on first use. */
export function providerRegistry(o: RegistryOptions): (name: string) => Provider {
  const made = new Map<string, Provider>();
  const home = o.home ?? o.env.LAB_HOME ?? join(homedir(), ".lab");
  const builders: Record<string, () => Provider | Promise<Provider>> = {
    ssh: () =>
      new SshProvider({
        statePath: join(home, "providers", "ssh-hosts.json"),
        ...(o.env.LAB_SSH_USER ? { user: o.env.LAB_SSH_USER } : {}),
        ...(o.env.LAB_SSH_PORT ? { port: portOf(o.env.LAB_SSH_PORT) } : {}),
        ...(o.env.LAB_SSH_IDENTITY_FILE ? { identityFile: o.env.LAB_SSH_IDENTITY_FILE } : {}),
        ...(o.env.SSH_AUTH_SOCK ? { agent: o.env.SSH_AUTH_SOCK } : {}),
        ...(o.sizes ? { sizes: o.sizes } : {}),
      }),
    libvirt: () =>
      new LibvirtProvider({
        ...(o.env.LAB_LIBVIRT_URI ? { uri: o.env.LAB_LIBVIRT_URI } : {}),
        ...(o.env.LAB_LIBVIRT_POOL ? { pool: o.env.LAB_LIBVIRT_POOL } : {}),
        ...(o.env.LAB_LIBVIRT_NETWORK ? { network: o.env.LAB_LIBVIRT_NETWORK } : {}),
        ...(o.sizes ? { sizes: o.sizes } : {}),
      }),
    // Region and credentials from the SDK's own chain (AWS_REGION, AWS_PROFILE, roles).
    aws: () =>
      new AwsProvider({
        client: o.env.LAB_AWS_ENDPOINT ? { endpoint: o.env.LAB_AWS_ENDPOINT } : {},
        ...(o.sizes ? { sizes: o.sizes } : {}),
      }),
    ...(o.extra as Record<string, () => Provider>),
  };
  return (name) => {
    const have = made.get(name);
    if (have) return have;
    const build = builders[name];
    if (!build) {
      throw new LabError(
        "LAB_E_PROVIDER_UNKNOWN",
        `provider "${name}" is not one Lab can drive (it has ${Object.keys(builders).sort().join(", ")}): its servers can be declared, not created or compared`,
      );
    }
    const p = build() as Provider;
    made.set(name, p);
    return p;
  };
}

function portOf(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new LabError("LAB_E_PROVIDER_NOT_CONFIGURED", `LAB_SSH_PORT must be a port number, not "${v}"`);
  return n;
}
