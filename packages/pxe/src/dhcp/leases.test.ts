import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileLeaseStore } from "./file-leases.js";
import { type Lease, type LeaseStore, MemoryLeaseStore } from "./leases.js";

const dir = mkdtempSync(join(tmpdir(), "lab-dhcp-leases-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `leases-${n++}.jsonl`);

const L = (mac: string, ip: string, expiresAt = 1_000_000, hostname?: string): Lease =>
  hostname ? { mac, ip, expiresAt, hostname } : { mac, ip, expiresAt };

const stores: Array<[string, () => Promise<LeaseStore>]> = [
  ["MemoryLeaseStore", async () => new MemoryLeaseStore()],
  ["FileLeaseStore", () => FileLeaseStore.open(freshPath())],
];

describe.each(stores)("LeaseStore contract: %s", (_name, make) => {
  it("stores, finds by MAC and by address, and lists", async () => {
    const s = await make();
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10", 5, "n1"));
    await s.put(L("aa:00:00:00:00:02", "10.0.0.11"));
    expect(s.get("aa:00:00:00:00:01")).toEqual(L("aa:00:00:00:00:01", "10.0.0.10", 5, "n1"));
    expect(s.getByIp("10.0.0.11")?.mac).toBe("aa:00:00:00:00:02");
    expect(s.size).toBe(2);
    expect(
      s
        .list()
        .map((l) => l.ip)
        .sort(),
    ).toEqual(["10.0.0.10", "10.0.0.11"]);
    await s.close();
  });

  it("moves a MAC to its new address and frees the old one", async () => {
    const s = await make();
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10"));
    await s.put(L("aa:00:00:00:00:01", "10.0.0.12"));
    expect(s.getByIp("10.0.0.10")).toBeUndefined();
    expect(s.get("aa:00:00:00:00:01")?.ip).toBe("10.0.0.12");
    expect(s.size).toBe(1);
    await s.close();
  });

  it("gives an address to its new holder only", async () => {
    const s = await make();
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10"));
    await s.put(L("aa:00:00:00:00:02", "10.0.0.10"));
    expect(s.get("aa:00:00:00:00:01")).toBeUndefined();
    expect(s.getByIp("10.0.0.10")?.mac).toBe("aa:00:00:00:00:02");
    await s.close();
  });

  it("removes a lease, and removing an unknown MAC is harmless", async () => {
    const s = await make();
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10"));
    await s.remove("aa:00:00:00:00:01");
    await s.remove("aa:00:00:00:00:09");
    expect(s.get("aa:00:00:00:00:01")).toBeUndefined();
    expect(s.getByIp("10.0.0.10")).toBeUndefined();
    expect(s.size).toBe(0);
    await s.close();
  });

  it("keeps its own copy of what was put", async () => {
    const s = await make();
    const lease = L("aa:00:00:00:00:01", "10.0.0.10");
    await s.put(lease);
    lease.ip = "10.9.9.9";
    expect(s.get("aa:00:00:00:00:01")?.ip).toBe("10.0.0.10");
    await s.close();
  });

  it("refuses writes after close", async () => {
    const s = await make();
    await s.close();
    await expect(async () => s.put(L("aa:00:00:00:00:01", "10.0.0.10"))).rejects.toMatchObject({
      code: "LAB_E_DHCP_LEASE_IO",
    });
  });
});

describe("FileLeaseStore", () => {
  it("keeps every acknowledged lease across a reopen", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 500; i++)
      writes.push(
        s.put(L(`aa:00:00:00:01:${(i % 256).toString(16).padStart(2, "0")}`, `10.0.${i >> 8}.${i & 255}`, i)),
      );
    await s.remove("aa:00:00:00:01:05");
    await Promise.all(writes);
    const expected = s.list().sort((a, b) => a.mac.localeCompare(b.mac));
    // No close(): the process "dies" here with everything acknowledged already on disk.
    const again = await FileLeaseStore.open(path);
    expect(again.list().sort((a, b) => a.mac.localeCompare(b.mac))).toEqual(expected);
    expect(again.get("aa:00:00:00:01:05")).toBeUndefined();
    await again.close();
    await s.close();
  });

  it("commits a burst in few batches (group commit)", async () => {
    const s = await FileLeaseStore.open(freshPath());
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        s.put(
          L(
            `bb:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
            `10.1.${i >> 8}.${i & 255}`,
          ),
        ),
      ),
    );
    const st = s.stats();
    expect(st.records).toBe(1000);
    expect(st.batches).toBeLessThan(10);
    expect(st.largestBatch).toBeGreaterThan(100);
    await s.close();
  });

  it("ignores and reports a torn last line, keeping everything before it", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path);
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10"));
    await s.put(L("aa:00:00:00:00:02", "10.0.0.11"));
    await s.close();
    const torn = '{"m":"aa:00:00:00:00:03","i":"10.0.0.1';
    appendFileSync(path, torn);
    const again = await FileLeaseStore.open(path);
    expect(again.recovery.torn).toEqual({ line: 4, bytes: torn.length });
    expect(again.size).toBe(2);
    expect(again.get("aa:00:00:00:00:03")).toBeUndefined();
    await again.close();
    // Compaction on open removed the torn bytes for good.
    expect(readFileSync(path, "utf8").endsWith("\n")).toBe(true);
    const third = await FileLeaseStore.open(path);
    expect(third.recovery.torn).toBeUndefined();
    await third.close();
  });

  it("treats a zero-filled tail (never fsynced) as torn", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path);
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10"));
    await s.close();
    appendFileSync(path, Buffer.alloc(50));
    const again = await FileLeaseStore.open(path);
    expect(again.recovery.torn?.bytes).toBe(50);
    expect(again.size).toBe(1);
    await again.close();
  });

  const damaged: Array<[string, string]> = [
    [
      "a garbled line in the middle",
      '{"lab":"dhcp-leases","v":1}\nGARBAGE\n{"m":"aa:00:00:00:00:01","i":"10.0.0.1","e":1}\n',
    ],
    ["a record with a bad MAC", '{"lab":"dhcp-leases","v":1}\n{"m":"zz","i":"10.0.0.1","e":1}\n'],
    [
      "a record with a bad address",
      '{"lab":"dhcp-leases","v":1}\n{"m":"aa:00:00:00:00:01","i":"10.0.0.300","e":1}\n',
    ],
    ["a record without expiry", '{"lab":"dhcp-leases","v":1}\n{"m":"aa:00:00:00:00:01","i":"10.0.0.1"}\n'],
    ["a journal of a newer format", '{"lab":"dhcp-leases","v":2}\n'],
  ];
  it.each(damaged)(
    "refuses to open %s (LAB_E_DHCP_LEASES_CORRUPT) and leaves the file alone",
    async (_n, text) => {
      const path = freshPath();
      writeFileSync(path, text);
      await expect(FileLeaseStore.open(path)).rejects.toMatchObject({ code: "LAB_E_DHCP_LEASES_CORRUPT" });
      expect(readFileSync(path, "utf8")).toBe(text);
    },
  );

  it("compacts on open and when the journal grows", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path, { compactMinRecords: 100, compactFactor: 2 });
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          s.put(L(`cc:00:00:00:00:${i.toString(16).padStart(2, "0")}`, `10.2.0.${i + 1}`, round)),
        ),
      );
    }
    // Open + at least one while growing: how many more depends on how the batches fall (a
    // snapshot is switched in between two batches, once written), which the load decides.
    expect(s.stats().compactions).toBeGreaterThanOrEqual(2);
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines.length).toBeLessThan(300);
    await s.close();
    const again = await FileLeaseStore.open(path);
    expect(again.size).toBe(30);
    expect(again.list().every((l) => l.expiresAt === 9)).toBe(true);
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(31);
    await again.close();
  });

  it("loses no acknowledged lease while background compactions come and go", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path, { compactMinRecords: 40, compactFactor: 1 });
    const mac = (i: number) => `ee:00:00:00:00:${(i % 64).toString(16).padStart(2, "0")}`;
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          s.put(L(mac(round * 16 + i), `10.4.0.${(round * 16 + i) % 250}`, round)),
        ),
      );
      // A "crash" at any point: another process opening the journal now sees every acknowledged lease.
      if (round % 7 === 6) {
        const seen = await FileLeaseStore.read(path);
        const byMac = new Map(seen.leases.map((l) => [l.mac, l]));
        for (const l of s.list()) expect(byMac.get(l.mac)).toEqual(l);
      }
    }
    expect(s.stats().compactions).toBeGreaterThan(2);
    await s.close();
  });

  it("refuses writes beyond its backlog with LAB_E_DHCP_BUSY, without recording them", async () => {
    const s = await FileLeaseStore.open(freshPath(), { maxPending: 5 });
    const ok = Array.from({ length: 5 }, (_, i) => s.put(L(`dd:00:00:00:00:0${i}`, `10.3.0.${i + 1}`)));
    await expect(s.put(L("dd:00:00:00:00:09", "10.3.0.9"))).rejects.toMatchObject({
      code: "LAB_E_DHCP_BUSY",
    });
    expect(s.get("dd:00:00:00:00:09")).toBeUndefined();
    await Promise.all(ok);
    await s.close();
  });

  it("refuses a lease it could not replay, and writes nothing", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path);
    await expect(s.put(L('aa:00:00:00:00:01","x', "10.0.0.1"))).rejects.toMatchObject({
      code: "LAB_E_DHCP_LEASE_IO",
    });
    await expect(s.put(L("aa:00:00:00:00:01", "10.0.0"))).rejects.toMatchObject({
      code: "LAB_E_DHCP_LEASE_IO",
    });
    await s.put(L("aa:00:00:00:00:02", "10.0.0.2"));
    await s.close();
    expect((await FileLeaseStore.read(path)).leases).toEqual([L("aa:00:00:00:00:02", "10.0.0.2")]);
  });

  it("escapes a client-chosen host name", async () => {
    const path = freshPath();
    const s = await FileLeaseStore.open(path);
    await s.put(L("aa:00:00:00:00:01", "10.0.0.10", 1, 'evil"\n{"m":"x"}'));
    await s.close();
    const again = await FileLeaseStore.open(path);
    expect(again.get("aa:00:00:00:00:01")?.hostname).toBe('evil"\n{"m":"x"}');
    await again.close();
  });
});
