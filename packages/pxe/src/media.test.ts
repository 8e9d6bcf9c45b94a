import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildMedia, ipxeEfiRunsAutoexec, mediaScript } from "./media.js";

describe("boot media", () => {
  it("the script retries DHCP, then chains to Lab's dispatch with the MAC", () => {
    const s = mediaScript("http://10.0.0.1:7480");
    expect(s.startsWith("#!ipxe\n")).toBe(true);
    expect(s.match(/^#!ipxe$/gm)).toHaveLength(1);
    expect(s).toContain("dhcp && goto lab ||");
    expect(s).toContain("goto net");
    expect(s).toContain("http://10.0.0.1:7480/pxe/v1/dispatch");
  });

  it("tells an ipxe.efi that runs autoexec.ipxe from one that cannot", () => {
    expect(ipxeEfiRunsAutoexec(Buffer.from("MZ\0\0…autoexec.ipxe\0…"))).toBe(true);
    expect(ipxeEfiRunsAutoexec(Buffer.from("MZ\0\0…autoboot\0…"))).toBe(false);
    // Debian 12's build, when it is installed here.
    let stock: Buffer | undefined;
    try {
      stock = readFileSync("/usr/lib/ipxe/ipxe.efi");
    } catch {}
    if (stock) expect(ipxeEfiRunsAutoexec(stock)).toBe(false);
  });

  it("names the missing iPXE binaries and their package", async () => {
    const empty = mkdtempSync(join(tmpdir(), "lab-media-test-"));
    await expect(
      buildMedia({
        kind: "iso",
        serverUrl: "http://10.0.0.1:7480",
        out: join(empty, "x.iso"),
        ipxeDir: empty,
      }),
    ).rejects.toMatchObject({
      code: "LAB_E_MEDIA_TOOL_MISSING",
      message: expect.stringContaining("ipxe.lkrn"),
    });
  });

  it("refuses an ipxe.efi too old for UEFI media unless the image is BIOS-only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-media-test-"));
    writeFileSync(join(dir, "ipxe.lkrn"), "lkrn");
    writeFileSync(join(dir, "ipxe.efi"), "MZ old build");
    await expect(
      buildMedia({ kind: "iso", serverUrl: "http://10.0.0.1:7480", out: join(dir, "x.iso"), ipxeDir: dir }),
    ).rejects.toMatchObject({ code: "LAB_E_MEDIA_IPXE_UEFI" });
  });
});
