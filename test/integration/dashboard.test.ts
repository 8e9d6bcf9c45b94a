/**
 * The dashboard in a real browser (Debian's Chromium) against a real `lab server` holding the
 * demo inventory: every page loads and shows what the API says; a change applied with the CLI
 * appears without a reload; an action round-trips through its confirmation; a read-only token
 * sees no action buttons and the server answers its write with 403.
 *
 * Screenshots go to a temporary folder, or to LAB_DASHBOARD_SHOTS (docs/dashboard refreshes
 * the committed ones). Every wait is for something on the page; deadlines only turn a hang
 * into a failure.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../support/browser.js";
import { labIn, ROOT, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

let home: string;
let server: ServerProcess;
let browser: Browser;
let admin: string;
let reader: string;
const shots = process.env.LAB_DASHBOARD_SHOTS
  ? join(ROOT, process.env.LAB_DASHBOARD_SHOTS)
  : join(tempHome("lab-shots-"), "shots");

beforeAll(async () => {
  home = tempHome("lab-dashboard-");
  const lab = labIn(home);
  expect(lab(["init", "--local"]).code).toBe(0);
  expect(lab(["apply", "-f", join(ROOT, "examples/homelab")]).code).toBe(0);
  server = await startLabServer({ home });
  admin = server.token as string;
  const created = await server.request<{ token: string }>("POST", "/api/v1/tokens", {
    name: "viewer",
    scopes: ["read"],
  });
  expect(created.status).toBe(201);
  reader = created.body.token;
  // A machine Lab network-boots as worker-5, so the server page has provisioning actions.
  const enlisted = await server.request("POST", "/api/v1/provision/enlist", {
    mac: "52:54:00:12:00:05",
    name: "worker-5",
    image: "debian-12",
  });
  expect(enlisted.status).toBe(200);
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await killAllServers();
  rmSync(home, { recursive: true, force: true });
});

async function signedIn(token: string, viewport = { width: 1600, height: 1000 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=who]");
  (page as Page & { errors?: string[] }).errors = errors;
  return page;
}

const count = (page: Page) => page.textContent("[data-testid=server-count] b");

describe("the dashboard", () => {
  it("signs in with an API token and shows the fleet with the pillars the API reports", async () => {
    const page = await signedIn(admin);
    await page.waitForSelector("[data-server=worker-5]");
    expect(await count(page)).toBe("17");
    // Nothing has reported on the demo fleet: every pillar says —, none says ✓.
    const pillars = await page.$$eval("[data-server] .pillar", (els) => els.map((e) => e.textContent));
    expect(pillars.length).toBe(17 * 4);
    expect(new Set(pillars)).toEqual(new Set(["—"]));
    // The lifecycle column shows the enlisted machine's state.
    expect(await page.textContent("[data-server=worker-5]")).toContain("INSTALL_QUEUE");
    await page.screenshot({ path: join(shots, "fleet.png") });
    await page.close();
  });

  it("filters with the targeting language, as `lab get servers` selects", async () => {
    const page = await signedIn(admin);
    const filter = async (q: string) => {
      await page.fill("input[name=q]", q);
      await page.press("input[name=q]", "Enter");
      await page.waitForFunction((qq) => location.hash.includes(encodeURIComponent(qq)), q);
    };
    await filter("label:postgres");
    await page.waitForFunction(() => document.querySelectorAll("[data-server]").length === 3);
    await filter("group:eu-infrastructure -db-2");
    await page.waitForFunction(() => document.querySelectorAll("[data-server]").length === 7);
    expect(await page.$("[data-server=db-2]")).toBeNull();
    // Free text matches names and labels: "worker" alone would also match test-box-1's k8s-worker.
    await filter("env:dev box");
    await page.waitForFunction(() => document.querySelectorAll("[data-server]").length === 1);
    expect(await page.$("[data-server=test-box-1]")).not.toBeNull();
    await page.close();
  });

  it("shows a server's provenance, exclusions and boot, and cross-links the reverse views", async () => {
    const page = await signedIn(admin);
    await page.goto(`${server.url}/#/servers/worker-5`);
    await page.waitForSelector("text=kubernetes::worker");
    const text = (await page.textContent("main")) ?? "";
    expect(text).toContain("FROM LABEL k8s-worker");
    expect(text).toContain("AUTO-GENERATED");
    expect(text).toContain("cpu_threshold");
    expect(await page.textContent("[data-testid=machine-state]")).toContain("INSTALL_QUEUE");
    await page.screenshot({ path: join(shots, "server.png"), fullPage: true });

    await page.goto(`${server.url}/#/servers/batch-worker-1`);
    await page.waitForSelector("[data-excluded=memory_pressure]");
    // server → label → its other servers
    await page.click("a.chip >> text=k8s-worker");
    await page.waitForSelector("text=Label k8s-worker");
    expect(await page.$("[data-member=worker-9]")).not.toBeNull();
    // group: subgroups and exclusions
    await page.goto(`${server.url}/#/groups/eu-infrastructure`);
    await page.waitForSelector("text=eu-west-compute");
    expect(await page.textContent("main")).toContain("test-box-1");
    await page.screenshot({ path: join(shots, "group.png"), fullPage: true });
    // alert: where it fires and who is excluded
    await page.goto(`${server.url}/#/alerts/memory_pressure`);
    await page.waitForSelector("[data-member=worker-5]");
    expect(await page.textContent("main")).toContain("batch-worker-1");
    // a secret whose name has a slash
    await page.goto(`${server.url}/#/secrets/k8s%2Fjoin-token`);
    await page.waitForSelector("text=Secret k8s/join-token");
    expect(await page.$("[data-member=worker-6]")).not.toBeNull();
    for (const list of ["labels", "groups", "alerts", "secrets"]) {
      await page.goto(`${server.url}/#/${list}`);
      await page.waitForSelector(`[data-testid=${list}-list] tbody tr`);
    }
    await page.screenshot({ path: join(shots, "alerts.png") });
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
    await page.close();
  });

  it("shows a change applied with the CLI without a reload", async () => {
    const page = await signedIn(admin);
    await page.waitForSelector("[data-server=worker-5]");
    await page.waitForSelector("[data-testid=link].link-live");
    const file = join(home, "new-server.yaml");
    writeFileSync(
      file,
      "servers:\n  worker-10:\n    provider: xcpng\n    labels: [k8s-worker]\n    environment: dev\n    region: eu-west\n",
    );
    const applied = labIn(home)(["apply", "-f", file]);
    expect(applied.code, applied.stderr).toBe(0);
    await page.waitForSelector("[data-server=worker-10]");
    expect(await count(page)).toBe("18");
    await page.close();
  });

  it("runs an action after its confirmation, and shows the result", async () => {
    const page = await signedIn(admin);
    await page.goto(`${server.url}/#/servers/worker-5`);
    await page.waitForSelector("[data-action=debug]");
    expect(await page.textContent("[data-testid=machine-debug]")).toBe("normal");
    await page.click("[data-action=debug]");
    await page.waitForSelector("[role=dialog]");
    await page.screenshot({ path: join(shots, "confirm.png") });
    await page.click("[data-confirm=debug]");
    await page.waitForSelector("[data-outcome=debug].ok-text");
    await page.waitForFunction(
      () => document.querySelector("[data-testid=machine-debug]")?.textContent === "rescue (debug)",
    );
    const machine = await server.request<{ debug: boolean }>("GET", "/api/v1/provision/machines/worker-5");
    expect(machine.body.debug).toBe(true);
    await page.close();
  });

  it("gives a read-only token no action buttons, and the server refuses its writes with 403", async () => {
    const page = await signedIn(reader);
    expect(await page.textContent("[data-testid=who]")).toContain("read");
    await page.goto(`${server.url}/#/servers/worker-5`);
    await page.waitForSelector("text=kubernetes::worker");
    await page.waitForSelector("[data-testid=machine-state]");
    expect(await page.$$("[data-action]")).toEqual([]);
    const refused = await page.evaluate(async (token) => {
      const res = await fetch("/api/v1/servers/worker-5", {
        method: "DELETE",
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.status, body: await res.json() };
    }, reader);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("LAB_E_FORBIDDEN");
    expect((await server.request("GET", "/api/v1/servers/worker-5")).status).toBe(200);
    await page.close();
  });

  it("fits a 1280×800 screen", async () => {
    const page = await signedIn(admin, { width: 1280, height: 800 });
    await page.waitForSelector("[data-server=worker-5]");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(shots, "fleet-1280x800.png") });
    await page.close();
  });
});
