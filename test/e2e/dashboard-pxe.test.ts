/**
 * A real VM's network boot, watched in the dashboard: Chromium (Debian's, via playwright-core)
 * keeps the server page of a machine onboarded by MAC open while a UEFI QEMU VM (OVMF, a
 * virtio NIC without an iPXE ROM) boots from `lab server --pxe` in a network namespace, Lab
 * answering its DHCP (scoped mode). The page must show each phase as it happens — DHCP,
 * TFTP (ipxe.efi), iPXE (Lab's boot script), the installer's stages, INSTALLED — without a
 * reload: the test records, inside the page, when each phase first shows as reached and the
 * machine states the page displayed, and checks they came in boot order.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBootImage } from "../support/boot-image.js";
import { launchChromium } from "../support/browser.js";
import { type labAsyncIn, ROOT } from "../support/cli.js";
import { type BootNetwork, createBootNetwork, type NsProcess } from "../support/netns.js";
import { loginCli, startPxeServer } from "../support/pxe-server.js";
import { createDisk, randomMac, startVm } from "../support/qemu.js";

const VM_TIMEOUT = 300_000;
const PHASES = ["DHCP", "TFTP", "iPXE", "installer", "INSTALLED"];

describe("the dashboard's server page follows a real network boot step by step", () => {
  let net: BootNetwork;
  let server: NsProcess;
  let home: string;
  let token: string;
  let cli: ReturnType<typeof labAsyncIn>;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    const image = await ensureBootImage();
    net = await createBootNetwork({ prefix: "lpw" });
    home = mkdtempSync(join(tmpdir(), "lab-dash-pxe-"));
    const lab = await startPxeServer(net, image, {
      labHome: join(home, "server"),
      home,
      args: [
        // Scoped: Lab answers DHCP for the machines it knows, so it knows which address is
        // this VM's from its first packet and can put the firmware's TFTP fetch in its
        // timeline. (Beside a router, in proxy mode, a first boot's TFTP comes from an address
        // Lab has not learnt yet and is not attributed: see the closing note of issue 12.)
        "--dhcp",
        "scoped",
        "--dhcp-pool",
        `${net.address(50)}-${net.address(60)}`,
        "--dhcp-router",
        net.serverIp,
      ],
    });
    server = lab.server;
    token = lab.token;
    cli = await loginCli(net, lab, join(home, "cli"));
    browser = await launchChromium();
    // The server's certificate is signed by Lab's own CA, which this browser profile does not hold.
    context = await browser.newContext({ viewport: { width: 1600, height: 1100 }, ignoreHTTPSErrors: true });
    await context.addInitScript((t) => localStorage.setItem("lab.token", t), token);
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await net?.destroy();
  });

  it("shows DHCP → TFTP → iPXE → installer stages → INSTALLED as they happen", async () => {
    const mac = randomMac();
    const onboard = await cli([
      "onboard",
      "dash-1",
      "--provider",
      "baremetal",
      "--mac",
      mac,
      "--image",
      "lab-discovery",
      "--yes",
      "--no-wait",
    ]);
    expect(onboard.code, onboard.stderr).toBe(0);

    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // Inside the page: when each phase first shows as reached, and every state shown.
    await page.addInitScript(() => {
      const w = window as unknown as { seenPhases: Record<string, number>; seenStates: string[] };
      w.seenPhases = {};
      w.seenStates = [];
      new MutationObserver(() => {
        for (const el of document.querySelectorAll("[data-phase][data-done=true]")) {
          const p = el.getAttribute("data-phase") as string;
          w.seenPhases[p] ??= performance.now();
        }
        const state = document.querySelector("[data-testid=machine-state] b")?.textContent;
        if (state && w.seenStates.at(-1) !== state) w.seenStates.push(state);
      }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await page.goto(`https://${net.serverIp}:7443/#/servers/dash-1`);
    await page.waitForSelector("[data-testid=machine-state]:has-text('INSTALL_QUEUE')");
    await page.waitForSelector("[data-testid=phases] .link-live");
    expect(await page.$$eval("[data-phase][data-done=true]", (els) => els.length)).toBe(0);

    const disk = join(home, "disk.img");
    await createDisk(disk, 64);
    const tap = await net.addTap();
    const vm = await startVm({
      net,
      tap,
      firmware: "uefi",
      mac,
      diskPath: disk,
      serialPath: join(home, "uefi.serial"),
    });
    try {
      await page.waitForSelector("[data-phase=INSTALLED][data-done=true]", { timeout: VM_TIMEOUT });
      await page.waitForSelector("[data-testid=machine-state]:has-text('INSTALLED')");
    } catch (e) {
      console.log(`── serial ──\n${(await vm.serialText()).slice(-3000)}`);
      console.log(`── lab server (tail) ──\n${server.output().slice(-4000)}`);
      throw e;
    } finally {
      await vm.kill();
    }
    const seen = await page.evaluate(() => {
      const w = window as unknown as { seenPhases: Record<string, number>; seenStates: string[] };
      return { phases: w.seenPhases, states: w.seenStates };
    });
    console.log(
      `phases first shown (ms after the page opened): ${PHASES.map((p) => `${p} ${seen.phases[p]?.toFixed(0)}`).join(", ")}; states shown: ${seen.states.join(" → ")}`,
    );
    // Every phase was shown, in boot order, while the page stayed open (never reloaded).
    const times = PHASES.map((p) => seen.phases[p]);
    expect(times.every((t) => typeof t === "number")).toBe(true);
    for (let i = 1; i < times.length; i++)
      expect(times[i] as number).toBeGreaterThanOrEqual(times[i - 1] as number);
    // The page went through the install: queued, installing, installed.
    expect(seen.states[0]).toBe("INSTALL_QUEUE");
    expect(seen.states).toContain("INSTALLING");
    expect(seen.states.at(-1)).toBe("INSTALLED");
    // The timeline lists the steps themselves, and the install log arrived over the socket.
    const kinds = await page.$$eval("[data-testid=timeline] [data-kind]", (els) =>
      els.map((e) => e.getAttribute("data-kind")),
    );
    for (const k of ["dhcp", "tftp", "http", "progress", "state"]) expect(kinds).toContain(k);
    // LAB_DASHBOARD_SHOTS=docs/dashboard refreshes the committed screenshot.
    const shots = process.env.LAB_DASHBOARD_SHOTS ? join(ROOT, process.env.LAB_DASHBOARD_SHOTS) : home;
    await page.screenshot({ path: join(shots, "server-pxe.png") });
    expect(errors).toEqual([]);
    await page.close();
  }, 900_000);
});
