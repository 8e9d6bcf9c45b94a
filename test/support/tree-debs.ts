/**
 * Installs Debian packages into an SSH test host's tree with the tree's own dpkg, as apt would
 * on a real machine. The test hosts have no network, so the .debs come from a cache that
 * scripts/ensure-peers.sh fills (same suite as the tree); a missing cache fails with the command.
 */
import { existsSync, readdirSync } from "node:fs";
import { cp, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { TestHost } from "./ssh-host.js";

export async function installDebs(host: TestHost, cacheDir: string): Promise<void> {
  if (!existsSync(join(cacheDir, ".complete"))) {
    throw new Error(`${cacheDir} is missing its .debs: run bash scripts/ensure-peers.sh`);
  }
  const debs = readdirSync(cacheDir).filter((f) => f.endsWith(".deb"));
  await mkdir(join(host.tree, "tmp/lab-debs"), { recursive: true });
  for (const d of debs) await cp(join(cacheDir, d), join(host.tree, "tmp/lab-debs", d));
  const r = await host.execInChroot("dpkg -i /tmp/lab-debs/*.deb && rm -rf /tmp/lab-debs");
  if (r.code !== 0) throw new Error(`dpkg -i in ${host.name} failed: ${r.stderr.trim().slice(-800)}`);
}
