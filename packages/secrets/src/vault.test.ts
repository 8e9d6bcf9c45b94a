import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { macKey, rowMac } from "./age.js";
import { SecretVault } from "./vault.js";

const te = new TextEncoder();
const td = new TextDecoder();

function ageCli(): string {
  try {
    execFileSync("age", ["--version"]);
    return "age";
  } catch {
    throw new Error("the age CLI is missing: run scripts/ensure-peers.sh (apt-get install age)");
  }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isLabError(e)) return e.code;
    throw e;
  }
  return "no error";
}

describe("SecretVault", () => {
  let dir: string;
  let paths: { dataFile: string; keyFile: string };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "lab-vault-"));
    paths = { dataFile: join(dir, "data", "vault.db"), keyFile: join(dir, "keys", "secrets.age") };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("stores ciphertext the real age CLI opens with the key file, and no plaintext anywhere", async () => {
    const vault = await SecretVault.open(paths);
    const value = "relay:hunter2-Plaintext-Marker";
    await vault.set("mail/relay-credentials", te.encode(value), "admin");
    const row = vault.sealedRows()[0];
    vault.close();
    expect(row?.ciphertext).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    const out = execFileSync(ageCli(), ["-d", "-i", paths.keyFile], { input: row?.ciphertext });
    expect(out.toString()).toBe(value);
    // Data and key in different folders; the key 0600; no plaintext in the data files.
    expect(statSync(paths.keyFile).mode & 0o777).toBe(0o600);
    for (const f of ["vault.db", "vault.db-wal", "vault.db-shm"]) {
      const p = join(dir, "data", f);
      if (existsSync(p)) expect(readFileSync(p).includes(Buffer.from("Plaintext-Marker"))).toBe(false);
    }
  });

  it("keeps the previous version for the grace period, then forgets it", async () => {
    let now = new Date("2026-03-15T10:00:00Z");
    const vault = await SecretVault.open({ ...paths, graceMs: 3_600_000, now: () => now });
    await vault.set("db/password", te.encode("one"), "admin");
    await vault.set("db/password", te.encode("two"), "admin");
    expect(td.decode((await vault.get("db/password")).value)).toBe("two");
    expect(td.decode((await vault.get("db/password", 1)).value)).toBe("one");
    expect(vault.meta("db/password")).toMatchObject({ version: 2, previous: [1] });
    now = new Date("2026-03-15T11:30:00Z");
    expect(await code(vault.get("db/password", 1))).toBe("LAB_E_SECRET_NOT_SET");
    await vault.set("db/password", te.encode("three"), "admin");
    expect(vault.sealedRows().map((r) => r.version)).toEqual([2, 3]);
    vault.close();
  });

  it("refuses a flipped byte, and a ciphertext moved to another secret's row", async () => {
    const vault = await SecretVault.open(paths);
    await vault.set("a", te.encode("value-a"), "admin");
    await vault.set("b", te.encode("value-b"), "admin");
    vault.close();
    const db = new BetterSqlite3(paths.dataFile);
    const a = db.prepare("select ciphertext, mac from secret_values where path = 'a'").get() as {
      ciphertext: string;
      mac: string;
    };
    // Swap: b's row now holds a's ciphertext (and a's MAC).
    db.prepare("update secret_values set ciphertext = ?, mac = ? where path = 'b'").run(a.ciphertext, a.mac);
    db.close();
    const again = await SecretVault.open(paths);
    expect(await code(again.get("b"))).toBe("LAB_E_SECRET_TAMPERED");
    again.close();

    // A flipped byte inside the armored payload, MAC recomputed is impossible without the key;
    // so flip it and keep the row's MAC: refused by the MAC. Then prove age itself refuses too.
    const lines = a.ciphertext.split("\n");
    const body = lines[1] as string;
    lines[1] = `${body.slice(0, 10)}${body[10] === "A" ? "B" : "A"}${body.slice(11)}`;
    const tampered = lines.join("\n");
    const r = execFileSync("sh", ["-c", `age -d -i ${paths.keyFile} 2>&1; echo rc=$?`], { input: tampered });
    expect(r.toString()).toMatch(/rc=1/);
    // Even with a valid MAC (someone holding the key's MAC half), age's own check refuses it.
    const identity = readFileSync(paths.keyFile, "utf8").trim().split("\n").pop() as string;
    const db2 = new BetterSqlite3(paths.dataFile);
    db2
      .prepare("update secret_values set ciphertext = ?, mac = ? where path = 'a'")
      .run(tampered, rowMac(macKey(identity), "a", 1, tampered));
    db2.close();
    const third = await SecretVault.open(paths);
    expect(await code(third.get("a"))).toBe("LAB_E_SECRET_TAMPERED");
    third.close();
  });

  it("never re-keys a vault whose key is gone, and refuses another vault's key", async () => {
    const vault = await SecretVault.open(paths);
    await vault.set("x", te.encode("v"), "admin");
    vault.close();
    const key = readFileSync(paths.keyFile);
    rmSync(paths.keyFile);
    expect(await code(SecretVault.open(paths))).toBe("LAB_E_SECRET_KEY");
    const other = await SecretVault.open({
      dataFile: join(dir, "other.db"),
      keyFile: join(dir, "other.age"),
    });
    other.close();
    writeFileSync(paths.keyFile, readFileSync(join(dir, "other.age")), { mode: 0o600 });
    expect(await code(SecretVault.open(paths))).toBe("LAB_E_SECRET_KEY");
    writeFileSync(paths.keyFile, key, { mode: 0o600 });
    const back = await SecretVault.open(paths);
    expect(td.decode((await back.get("x")).value)).toBe("v");
    back.close();
  });

  it("imports sealed rows only when they open with its key", async () => {
    const a = await SecretVault.open(paths);
    await a.set("k8s/join-token", te.encode("t1"), "admin");
    await a.set("k8s/join-token", te.encode("t2"), "admin");
    const rows = a.sealedRows();
    a.close();
    // Same key (a replica): accepted; the newest version is current.
    const replica = await SecretVault.open({ dataFile: join(dir, "replica.db"), keyFile: paths.keyFile });
    expect(await replica.importRows(rows, "synced")).toBe(2);
    expect(td.decode((await replica.get("k8s/join-token")).value)).toBe("t2");
    expect(await replica.importRows(rows)).toBe(0);
    replica.close();
    const stranger = await SecretVault.open({ dataFile: join(dir, "s.db"), keyFile: join(dir, "s.age") });
    expect(await code(stranger.importRows(rows))).toBe("LAB_E_SECRET_TAMPERED");
    expect(stranger.list()).toEqual([]);
    stranger.close();
  });

  it("refuses empty and oversized values with LAB_E_SECRET_VALUE", async () => {
    const vault = await SecretVault.open(paths);
    expect(await code(vault.set("e", new Uint8Array(), "admin"))).toBe("LAB_E_SECRET_VALUE");
    expect(await code(vault.set("e", new Uint8Array(1024 * 1024 + 1), "admin"))).toBe("LAB_E_SECRET_VALUE");
    vault.close();
  });
});
