import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanLines, InstallLogBuffer } from "./log-buffer.js";

const MAC = "52:54:00:12:34:56";
const OTHER = "52:54:00:ab:cd:ef";

describe("InstallLogBuffer", () => {
  let dir: string;
  const buffers: InstallLogBuffer[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "ldc-logs-"));
  });
  afterEach(async () => {
    await Promise.all(buffers.splice(0).map((b) => b.close()));
    await rm(dir, { recursive: true, force: true });
  });
  const make = (over: Partial<ConstructorParameters<typeof InstallLogBuffer>[0]> = {}) => {
    const b = new InstallLogBuffer({ dir, log: () => {}, ...over });
    buffers.push(b);
    return b;
  };

  it("keeps the last lines per MAC within the line bound", () => {
    const b = make({ maxLines: 3 });
    for (let i = 1; i <= 5; i++) b.append(MAC, `line ${i}`);
    b.append(OTHER, "other");
    expect(b.tail(MAC, 10)).toEqual(["line 3", "line 4", "line 5"]);
    expect(b.tail(MAC, 2)).toEqual(["line 4", "line 5"]);
    expect(b.tail(OTHER)).toEqual(["other"]);
    expect(b.tail("52:54:00:00:00:01")).toEqual([]);
  });

  it("keeps within the byte bound", () => {
    const b = make({ maxBytes: 100 });
    for (let i = 0; i < 10; i++) b.append(MAC, `${i}`.repeat(30));
    const kept = b.tail(MAC, 100);
    expect(kept.reduce((n, l) => n + l.length + 1, 0)).toBeLessThanOrEqual(100);
    expect(kept.at(-1)).toBe("9".repeat(30));
  });

  it("normalises MACs and splits and cleans lines", () => {
    const b = make();
    b.append("52-54-00-12-34-56", "a\r\nb\u0007c\n\n\u001b[0mcolour\tok");
    expect(b.tail(MAC)).toEqual(["a", "bc", "[0mcolour\tok"]);
    expect(cleanLines("x".repeat(10_000))[0]?.length).toBe(8192);
  });

  it("refuses a malformed MAC", () => {
    const b = make();
    const err = (() => {
      try {
        b.append("not-a-mac", "x");
      } catch (e) {
        return e;
      }
    })();
    expect(isLabError(err) && err.code).toBe("LAB_E_INSTALL_BAD_VALUE");
  });

  it("follows new lines until unsubscribed, and survives a failing follower", () => {
    const b = make();
    const seen: string[] = [];
    b.append(MAC, "before");
    const stop = b.follow(MAC, (l) => seen.push(l));
    const stopBad = b.follow(MAC, () => {
      throw new Error("follower bug");
    });
    b.append(MAC, ["one", "two"]);
    stop();
    stopBad();
    b.append(MAC, "after");
    expect(seen).toEqual(["one", "two"]);
  });

  it("writes every line to the MAC's file, beyond what memory keeps", async () => {
    const b = make({ maxLines: 10 });
    for (let i = 0; i < 1000; i++) b.append(MAC, `line ${i}`);
    await b.flush();
    const text = await readFile(join(dir, "52-54-00-12-34-56.log"), "utf8");
    const lines = text.trimEnd().split("\n");
    expect(lines.length).toBe(1000);
    expect([lines[0], lines[999]]).toEqual(["line 0", "line 999"]);
    expect(b.tail(MAC, 100).length).toBe(10);
  });

  it("appends to an existing file and rotates it at the size limit", async () => {
    const file = join(dir, "52-54-00-12-34-56.log");
    await writeFile(file, "from before\n");
    const b = make({ maxFileBytes: 1000 });
    for (let i = 0; i < 50; i++) {
      b.append(MAC, `${String(i).padStart(3, "0")} ${"x".repeat(40)}`);
      await b.flush();
    }
    const rotated = await readFile(`${file}.1`, "utf8");
    const current = await readFile(file, "utf8");
    expect((await stat(file)).size).toBeLessThanOrEqual(1000);
    expect(rotated.length).toBeGreaterThan(0);
    expect(current.trimEnd().split("\n").at(-1)).toMatch(/^049 /);
  });

  it("forgets a MAC: memory and files", async () => {
    const b = make();
    b.append(MAC, "secret-ish");
    await b.flush();
    await b.forget(MAC);
    expect(b.tail(MAC)).toEqual([]);
    await expect(stat(join(dir, "52-54-00-12-34-56.log"))).rejects.toThrow();
  });

  it("evicts the least recently written machines from memory, not from disk", async () => {
    const b = make({ maxMachines: 2 });
    const macs = ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"];
    for (const m of macs) {
      b.append(m, `hello ${m}`);
      await b.flush();
    }
    expect(macs.map((m) => b.tail(m).length)).toEqual([0, 1, 1]);
    expect(await readFile(join(dir, "52-54-00-00-00-01.log"), "utf8")).toBe("hello 52:54:00:00:00:01\n");
  });

  it("counts what it cannot write instead of failing the caller", async () => {
    const blocked = join(dir, "a-file");
    await writeFile(blocked, "");
    const b = make({ dir: join(blocked, "logs") });
    b.append(MAC, "lost line");
    await b.flush();
    expect(b.droppedBytes).toBe("lost line\n".length);
    expect(b.tail(MAC)).toEqual(["lost line"]);
  });
});
