/**
 * The hosts the ssh provider adopted, kept in one JSON file under the Lab home of the process
 * that runs it (LAB_HOME/providers/ssh-hosts.json). An SSH host has no inventory of its own to
 * list, so this record is what `list`/`discover` walk; it also pins each host's key from the
 * adoption on, so a machine that changed its key (or a different machine at the address) is
 * refused instead of being compared as if it were the same one.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { LabError } from "@lab/core";

export interface AdoptedHost {
  /** The server's name in the model. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** The host key seen at adoption (SHA256:…), required from then on. */
  hostKey: string;
  adoptedAt: string;
}

export class AdoptedHosts {
  constructor(readonly path: string) {}

  async all(): Promise<AdoptedHost[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    try {
      const data = JSON.parse(text) as { hosts?: AdoptedHost[] };
      return Array.isArray(data.hosts) ? data.hosts : [];
    } catch {
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `${this.path} is not the ssh provider's JSON record: fix or remove it (the hosts are adopted again by lab apply server)`,
      );
    }
  }

  async get(name: string): Promise<AdoptedHost | undefined> {
    return (await this.all()).find((h) => h.name === name);
  }

  async put(h: AdoptedHost): Promise<void> {
    await this.write([...(await this.all()).filter((x) => x.name !== h.name), h]);
  }

  /** Forgets a host; false when it was not adopted. */
  async remove(name: string): Promise<boolean> {
    const all = await this.all();
    const kept = all.filter((x) => x.name !== name);
    if (kept.length === all.length) return false;
    await this.write(kept);
    return true;
  }

  /** Whole-file replace through a temporary name, so a crash never leaves half a record. */
  private async write(hosts: AdoptedHost[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const sorted = [...hosts].sort((a, b) => a.name.localeCompare(b.name));
    await writeFile(tmp, `${JSON.stringify({ hosts: sorted }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
