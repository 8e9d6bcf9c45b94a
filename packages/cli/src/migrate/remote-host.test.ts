import { describe, expect, it } from "vitest";
import { checkPlatform, type HostFacts, hostNodeUsable, localGlibc, parseFacts } from "./remote-host.js";

const ARCH = process.arch === "arm64" ? "aarch64" : "x86_64";

function facts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    os: "Linux",
    arch: ARCH,
    uid: 0,
    glibc: "9.99",
    releasePresent: false,
    statePresent: false,
    systemd: false,
    ...over,
  };
}

describe("what the probe says about the host", () => {
  it("parses the probe's key=value lines", () => {
    const f = parseFacts(
      [
        "os=Linux",
        "arch=x86_64",
        "uid=0",
        "glibc=2.36",
        "node=/usr/bin/node v20.20.2 115",
        "release=present",
        "current=releases/0.1.0-abc",
        "state=present",
        `ca=${"a".repeat(64)}`,
        "running=4242",
        "systemd=yes",
        "free=1048576",
      ].join("\n"),
    );
    expect(f).toEqual({
      os: "Linux",
      arch: "x86_64",
      uid: 0,
      glibc: "2.36",
      node: { path: "/usr/bin/node", version: "v20.20.2", modules: "115" },
      releasePresent: true,
      current: "releases/0.1.0-abc",
      statePresent: true,
      caSha256: "a".repeat(64),
      runningPid: 4242,
      systemd: true,
      freeKiB: 1048576,
    });
  });

  it("a bare host: no node, nothing of Lab's", () => {
    const f = parseFacts("os=Linux\narch=x86_64\nuid=0\nglibc=2.36\nfree=100\n");
    expect(f.node).toBeUndefined();
    expect(f.releasePresent || f.statePresent || f.systemd).toBe(false);
    expect(hostNodeUsable(f)).toBe(false);
  });

  it.each([
    {
      name: "same ABI, Node ≥ 20",
      node: { path: "/n", version: "v20.1.0", modules: process.versions.modules },
      usable: true,
    },
    {
      name: "another ABI",
      node: { path: "/n", version: "v22.0.0", modules: "127" },
      usable: process.versions.modules === "127",
    },
    {
      name: "Node 18",
      node: { path: "/n", version: "v18.19.0", modules: process.versions.modules },
      usable: false,
    },
  ])("host node: $name", ({ node, usable }) => {
    expect(hostNodeUsable(facts({ node }))).toBe(usable);
  });

  it.each([
    { name: "another OS", over: { os: "FreeBSD" }, want: /runs FreeBSD, not Linux/ },
    { name: "another architecture", over: { arch: "riscv64" }, want: new RegExp(`is riscv64, not ${ARCH}`) },
    { name: "musl", over: { glibc: "" }, want: /no glibc/ },
    { name: "an older glibc", over: { glibc: "2.1" }, want: /glibc 2\.1 is older than/ },
  ])("refuses $name with LAB_E_MIGRATE_PLATFORM", ({ over, want }) => {
    // Lab runs on Debian here: glibc is what the shipped node and native modules were built against.
    expect(localGlibc()).toMatch(/^\d+\.\d+/);
    let err: unknown;
    try {
      checkPlatform(facts(over), "root@h:22");
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe("LAB_E_MIGRATE_PLATFORM");
    expect((err as Error).message).toMatch(want);
  });

  it("accepts a Linux host of this architecture with a newer glibc", () => {
    expect(() => checkPlatform(facts(), "root@h:22")).not.toThrow();
  });
});
