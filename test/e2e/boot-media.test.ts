/**
 * Machines that cannot network-boot: `lab pxe media` builds one hybrid image, and QEMU boots
 * it as a CD and as a USB stick, on BIOS (SeaBIOS) and UEFI (OVMF). The NICs have no boot ROM
 * and Lab runs with DHCP and TFTP off, beside a router that hands out addresses and knows
 * nothing of PXE: the only way to Lab is the media's iPXE script. Each boot must reach Lab's
 * dispatch URL with the VM's MAC, get the discovery image and report the machine's hardware.
 *
 * Debian 12's iPXE (2019) boots BIOS machines from the media but its ipxe.efi cannot run a
 * script from it: Lab refuses that combination and builds a BIOS-only image on request. UEFI is
 * proven with Debian 13's iPXE package, which scripts/ensure-peers.sh unpacks (not installs)
 * into /var/cache/lab-test/ipxe-debian13.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBootImage } from "../support/boot-image.js";
import type { labAsyncIn } from "../support/cli.js";
import { type BootNetwork, createBootNetwork, type NsProcess } from "../support/netns.js";
import { loginCli, startPxeServer } from "../support/pxe-server.js";
import { randomMac, startVm } from "../support/qemu.js";

const VM_TIMEOUT = 240_000;
const NEWER_IPXE = "/var/cache/lab-test/ipxe-debian13/usr/lib/ipxe";

describe("boot media reach Lab without PXE (BIOS and UEFI, CD and USB)", () => {
  let net: BootNetwork;
  let server: NsProcess;
  let cli: ReturnType<typeof labAsyncIn>;
  let dir: string;
  const media = { stock: "", newer: "" };

  beforeAll(async () => {
    const image = await ensureBootImage();
    net = await createBootNetwork({ prefix: "lbm" });
    await net.addRouterDhcp();
    dir = mkdtempSync(join(tmpdir(), "lab-media-"));
    const lab = await startPxeServer(net, image, {
      labHome: join(dir, "server"),
      home: dir,
      args: ["--dhcp", "off", "--no-tftp", "--discover"],
    });
    server = lab.server;
    cli = await loginCli(net, lab, join(dir, "cli"));

    // Debian 12's iPXE: UEFI refused (nothing written), BIOS-only on request. Built through the
    // server: the boot URL defaults to its host and boot port.
    media.stock = join(dir, "lab-boot-stock.iso");
    const refused = await cli(["pxe", "media", "iso", "--out", media.stock]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("LAB_E_MEDIA_IPXE_UEFI");
    expect(refused.stderr).toContain("--bios-only");
    expect(existsSync(media.stock)).toBe(false);
    const stock = await cli(["pxe", "media", "iso", "--bios-only", "--out", media.stock]);
    expect(stock.code, stock.stderr).toBe(0);
    expect(stock.stdout).toContain(`boots BIOS machines into http://${net.serverIp}:7480`);

    media.newer = join(dir, "lab-boot.img");
    const url = `http://${net.serverIp}:7480`;
    const newer = await cli([
      "pxe",
      "media",
      "usb",
      "--embed-url",
      url,
      "--ipxe-dir",
      NEWER_IPXE,
      "--out",
      media.newer,
    ]);
    expect(newer.code, newer.stderr).toBe(0);
    expect(newer.stdout).toContain(`boots BIOS and UEFI machines into ${url}`);
    expect(newer.stdout).toContain("dd if=");
  }, 600_000);

  afterAll(async () => {
    await server?.stop();
    await net?.destroy();
  });

  for (const [firmware, as, ipxe] of [
    ["bios", "cdrom", "stock"],
    ["bios", "usb", "newer"],
    ["uefi", "cdrom", "newer"],
    ["uefi", "usb", "newer"],
  ] as const) {
    const what = `${firmware.toUpperCase()} from a ${as === "cdrom" ? "CD" : "USB stick"} (${ipxe === "stock" ? "Debian 12's" : "Debian 13's"} iPXE)`;
    it(`${what}: iPXE from the media → Lab's dispatch → discovered`, async () => {
      const mac = randomMac();
      const vm = await startVm({
        net,
        tap: await net.addTap(),
        firmware,
        mac,
        serialPath: join(dir, `${firmware}-${as}.serial`),
        media: { path: media[ipxe], as },
      });
      try {
        // Lab's discovery script, served to this MAC, runs the discovery image to the end.
        await vm.waitForSerial(new RegExp(`lab: discover ${mac}`), VM_TIMEOUT);
        // The image posts the inventory, then powers off (no serial console: only asked for).
        const exit = await Promise.race([
          vm.exited,
          new Promise<"timeout">((r) => setTimeout(() => r("timeout"), VM_TIMEOUT)),
        ]);
        expect(exit, vm.qemuOutput()).not.toBe("timeout");
        const t = await cli(["provision", "timeline", mac, "--all", "-o", "json"]);
        // On failure: what the CLI said, and the server's side of it.
        expect(t.code, `${t.stderr}\n--- lab server ---\n${server.output().slice(-8000)}`).toBe(0);
        const steps = JSON.parse(t.stdout) as {
          kind: string;
          type: string;
          detail: Record<string, unknown>;
        }[];
        // No DHCP or TFTP from Lab (both off): the first step Lab saw is the media's chain.
        expect(steps.map((s) => s.kind)).not.toContain("dhcp");
        expect(steps.map((s) => s.kind)).not.toContain("tftp");
        expect(steps.find((s) => s.type === "dispatch")?.detail.decision).toBe("discover");
        const list = JSON.parse((await cli(["provision", "list", "-o", "json"])).stdout) as {
          mac: string;
          state: string;
          hardware: { firmware: string } | null;
        }[];
        const found = list.find((m) => m.mac === mac);
        expect(found?.state).toBe("DISCOVERED");
        expect(found?.hardware?.firmware).toBe(firmware === "uefi" ? "efi" : "bios");
      } finally {
        await vm.kill();
      }
    }, 300_000);
  }
});
