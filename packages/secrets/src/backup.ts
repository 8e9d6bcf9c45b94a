/**
 * The encrypted git backup, SOPS-style: paths, versions, who set what and the compiled policy
 * in clear; values as age ciphertext (the vault's own rows, encrypted to the store's key and
 * any extra recipients). The repository alone opens nothing: restoring needs the key.
 *
 *   README.md                     what this is and how to restore it
 *   recipients.txt                who can decrypt (public keys)
 *   policy.yaml                   machine → secrets it may read, and why (clear)
 *   secrets/<path>/v<N>.age       armored age ciphertext (opens with `age -d -i KEY`)
 *   secrets/<path>/v<N>.yaml      version, set at/by, source, row MAC (clear)
 *
 * Each backup is one commit (git history is the audit trail), pushed to the remote.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { LabError } from "@lab/core";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import type { CompiledPolicy } from "./policy.js";
import { chainText } from "./policy.js";
import type { SealedRow, SecretVault } from "./vault.js";

export interface BackupResult {
  url: string;
  commit: string | null;
  secrets: number;
  versions: number;
  changed: boolean;
}

function git(cwd: string, args: string[], what: string): string {
  try {
    return execFileSync("git", args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: "0",
        GIT_AUTHOR_NAME: "lab",
        GIT_AUTHOR_EMAIL: "lab@localhost",
        GIT_COMMITTER_NAME: "lab",
        GIT_COMMITTER_EMAIL: "lab@localhost",
      },
    }).trim();
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? "")
      .trim()
      .split("\n")
      .slice(-2)
      .join(" ");
    throw new LabError(
      "LAB_E_SECRET_BACKUP",
      `${what}: git ${args[0]} failed (${stderr || (e as Error).message})`,
    );
  }
}

/** A working copy of the remote (empty when the remote has no commits yet). */
function checkout(url: string): string {
  const dir = mkdtempSync(join(tmpdir(), "lab-secrets-git-"));
  git(dir, ["clone", "--quiet", url, "."], `cloning ${url}`);
  return dir;
}

/** Writes the vault's rows and the policy into the repository, commits and pushes. */
export function pushBackup(url: string, vault: SecretVault, policy: CompiledPolicy): BackupResult {
  const dir = checkout(url);
  try {
    rmSync(join(dir, "secrets"), { recursive: true, force: true });
    const rows = vault.sealedRows();
    for (const r of rows) {
      const base = join(dir, "secrets", ...r.path.split("/"), `v${r.version}`);
      mkdirSync(dirname(base), { recursive: true });
      // Byte for byte: the row's MAC covers the ciphertext exactly as stored.
      writeFileSync(`${base}.age`, r.ciphertext);
      writeFileSync(
        `${base}.yaml`,
        toYaml({
          path: r.path,
          version: r.version,
          set_at: r.setAt,
          set_by: r.setBy,
          source: r.source,
          retired_at: r.retiredAt,
          mac: r.mac,
        }),
      );
    }
    writeFileSync(join(dir, "recipients.txt"), `${vault.recipients.join("\n")}\n`);
    writeFileSync(join(dir, "policy.yaml"), toYaml(policyDoc(policy), { lineWidth: 0 }));
    writeFileSync(join(dir, "README.md"), README);
    git(dir, ["add", "-A"], "staging the backup");
    const changed = git(dir, ["status", "--porcelain"], "reading the backup's status") !== "";
    if (changed) {
      const n = new Set(rows.map((r) => r.path)).size;
      git(
        dir,
        ["commit", "--quiet", "-m", `lab secrets backup: ${n} secrets, ${rows.length} versions`],
        "committing",
      );
      git(dir, ["push", "--quiet", "origin", "HEAD"], `pushing to ${url}`);
    }
    const commit = changed || hasCommits(dir) ? git(dir, ["rev-parse", "HEAD"], "reading HEAD") : null;
    return { url, commit, secrets: new Set(rows.map((r) => r.path)).size, versions: rows.length, changed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function hasCommits(dir: string): boolean {
  try {
    execFileSync("git", ["rev-parse", "--verify", "HEAD"], { cwd: dir, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The rows of the backup at `url` (its newest commit), still encrypted. */
export function readBackup(url: string): { rows: SealedRow[]; commit: string } {
  const dir = checkout(url);
  try {
    if (!hasCommits(dir))
      throw new LabError("LAB_E_SECRET_BACKUP", `${url} holds no backup yet (no commits)`);
    const commit = git(dir, ["rev-parse", "HEAD"], "reading HEAD");
    const rows: SealedRow[] = [];
    const root = join(dir, "secrets");
    for (const file of existsSync(root) ? walk(root) : []) {
      if (!file.endsWith(".yaml")) continue;
      const meta = parseYaml(readFileSync(file, "utf8")) as Record<string, unknown>;
      const ageFile = file.replace(/\.yaml$/, ".age");
      const path = relative(root, dirname(file)).split(sep).join("/");
      if (meta.path !== path || !existsSync(ageFile)) {
        throw new LabError(
          "LAB_E_SECRET_BACKUP",
          `${relative(dir, file)} does not match its place in the backup`,
        );
      }
      rows.push({
        path,
        version: Number(meta.version),
        ciphertext: readFileSync(ageFile, "utf8"),
        mac: String(meta.mac),
        setAt: String(meta.set_at),
        setBy: String(meta.set_by),
        source: meta.source as SealedRow["source"],
        retiredAt: meta.retired_at ? String(meta.retired_at) : null,
      });
    }
    return { rows, commit };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((e) => {
      const p = join(dir, e);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

function policyDoc(policy: CompiledPolicy) {
  const machines: Record<string, Record<string, string[]>> = {};
  for (const m of policy.machines.values()) {
    machines[m.machine] = Object.fromEntries(
      m.grants.map((g) => [g.secret, g.chains.map((c) => chainText(c, true))]),
    );
  }
  return { code_scanned: policy.codeScanned, machines };
}

const README = `# Lab secrets backup

Written by Lab (\`lab secret backup\`). Values are age-encrypted (\`secrets/<path>/v<N>.age\`);
paths, versions, who set them and the access policy (\`policy.yaml\`) are in clear.
This repository alone opens nothing: decrypting needs the store's age key.

Restore a store:   lab secret recover --from git <this repository's URL> --key <age key file>
Read one value:    age -d -i <age key file> secrets/<path>/v<N>.age
`;
