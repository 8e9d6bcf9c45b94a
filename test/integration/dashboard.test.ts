/**
 * The dashboard in a real browser (Debian's Chromium) against a real `lab server` holding the
 * demo inventory: every page loads and shows what the API says; a change applied with the CLI
 * appears without a reload; an action round-trips through its confirmation; a read-only token
 * sees no action buttons and the server answers every write the dashboard can make with 403;
 * an event appended to an OpenTelemetry collector file appears on the Live page; the Layout
 * page draws the model's racks and follows a change; the kiosk rotates its pages at 1280×800.
 *
 * Screenshots go to a temporary folder, or to LAB_DASHBOARD_SHOTS (docs/dashboard refreshes
 * the committed ones). Every wait is for something on the page; deadlines only turn a hang
 * into a failure.
 */
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
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
let otelFile: string;
const shots = process.env.LAB_DASHBOARD_SHOTS
  ? join(ROOT, process.env.LAB_DASHBOARD_SHOTS)
  : join(tempHome("lab-shots-"), "shots");

beforeAll(async () => {
  home = tempHome("lab-dashboard-");
  const lab = labIn(home);
  expect(lab(["init", "--local"]).code).toBe(0);
  expect(lab(["apply", "-f", join(ROOT, "examples/homelab")]).code).toBe(0);
  // A real OTel collector file-exporter output the server tails (empty until a test writes).
  otelFile = join(home, "otel-logs.json");
  writeFileSync(otelFile, "");
  server = await startLabServer({ home, args: ["--otel-file", otelFile] });
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

/** One line as the collector's `file` exporter writes it: a resourceLogs batch of one record. */
function otelLine(node: string, service: string, severity: number, message: string): string {
  const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });
  return `${JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [attr("host.name", node), attr("service.name", service)] },
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
                severityNumber: severity,
                body: { stringValue: message },
              },
            ],
          },
        ],
      },
    ],
  })}\n`;
}

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
    // Every write the dashboard can make, as the read-only token: each refused by the server.
    const writes: [string, string, unknown][] = [
      ["POST", "/api/v1/provision/machines/worker-5/install", {}],
      ["POST", "/api/v1/provision/machines/worker-5/reprovision", {}],
      ["POST", "/api/v1/provision/machines/worker-5/debug", {}],
      ["DELETE", "/api/v1/provision/machines/worker-5", undefined],
      ["DELETE", "/api/v1/servers/worker-5", undefined],
      ["POST", "/api/v1/agents/worker-5/exec", { command: "true" }],
      ["POST", "/api/v1/power/worker-5/on", {}],
      ["POST", "/api/v1/apply", { documents: [] }],
    ];
    const answers = await page.evaluate(
      async ({ token, writes }) => {
        const out: [string, number, string][] = [];
        for (const [method, path, body] of writes) {
          const res = await fetch(path, {
            method,
            headers: {
              authorization: `Bearer ${token}`,
              ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          out.push([`${method} ${path}`, res.status, (await res.json()).error?.code]);
        }
        return out;
      },
      { token: reader, writes },
    );
    for (const [what, status, code] of answers)
      expect([what, status, code]).toEqual([what, 403, "LAB_E_FORBIDDEN"]);
    expect((await server.request("GET", "/api/v1/provision/machines/worker-5")).status).toBe(200);
    // The Live and Layout pages offer a read-only token nothing to press either.
    for (const where of ["live", "layout"]) {
      await page.goto(`${server.url}/#/${where}`);
      await page.waitForSelector(where === "live" ? "[data-testid=log-list]" : "[data-layout=basement-rack]");
      expect(await page.$$("[data-action]")).toEqual([]);
    }
    await page.close();
  });

  it("shows an event written to an OpenTelemetry file on the Live page, without a reload", async () => {
    const page = await signedIn(admin);
    await page.goto(`${server.url}/#/live`);
    await page.waitForSelector("[data-testid=log-link]:has-text('live')");
    appendFileSync(otelFile, otelLine("db-1", "postgres", 17, "checkpoint took 42 s (dashboard test)"));
    appendFileSync(otelFile, otelLine("worker-5", "kubelet", 9, "pod started (dashboard test)"));
    const row = await page.waitForSelector("tr:has-text('checkpoint took 42 s (dashboard test)')");
    expect(await row.textContent()).toContain("db-1");
    expect(await row.textContent()).toContain("error");
    // The filters: level and up, node; the pause holds new events and counts them.
    await page.selectOption("select[name=level]", "error");
    await page.waitForFunction(() => !document.body.textContent?.includes("pod started (dashboard test)"));
    await page.selectOption("select[name=level]", "");
    await page.selectOption("select[name=node]", "worker-5");
    await page.waitForSelector("tr:has-text('pod started (dashboard test)')");
    expect(await page.$("tr:has-text('checkpoint took 42 s')")).toBeNull();
    await page.selectOption("select[name=node]", "");
    await page.click("[data-testid=pause]");
    appendFileSync(otelFile, otelLine("db-2", "postgres", 13, "held while paused (dashboard test)"));
    await page.waitForSelector("[data-testid=pause]:has-text('Resume (1 new)')");
    expect(await page.$("tr:has-text('held while paused')")).toBeNull();
    await page.click("[data-testid=pause]");
    await page.waitForSelector("tr:has-text('held while paused (dashboard test)')");
    await page.waitForSelector("[data-testid=chart-levels] canvas");
    await page.screenshot({ path: join(shots, "live.png") });
    // A callback (a workload's key/value report) is charted, and is the server's live state.
    const reported = await server.request("POST", "/api/v1/callbacks", {
      server: "db-1",
      key: "replication_lag",
      status: "ok",
      value: 3,
    });
    expect(reported.status).toBe(202);
    await page.waitForSelector("[data-testid=chart-callbacks] canvas");
    expect(await page.textContent("[data-testid=chart-callbacks]")).toContain("db-1/replication_lag");
    // The server page lists the events that name it, and its callbacks, following new ones.
    await page.goto(`${server.url}/#/servers/db-1`);
    await page.waitForSelector("[data-testid=node-logs] >> text=checkpoint took 42 s (dashboard test)");
    await page.waitForSelector("[data-callback=replication_lag] >> text=3");
    await server.request("POST", "/api/v1/callbacks", {
      server: "db-1",
      key: "replication_lag",
      status: "warning",
      value: 95,
    });
    await page.waitForSelector("[data-callback=replication_lag] >> text=95");
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
    await page.close();
  });

  it("draws the layout with what is observed, and follows a change applied with the CLI", async () => {
    const page = await signedIn(admin);
    await page.goto(`${server.url}/#/layout`);
    await page.waitForSelector("[data-layout=basement-rack] [data-node=db-1]");
    // The rack keeps its shape: 12 units in 8 items (three 2U); the XCP-ng host carries its VMs.
    expect(await page.$$eval("[data-layout=basement-rack] .slots > .slot", (els) => els.length)).toBe(8);
    expect(await page.$("[data-layout=basement-rack] .guests [data-node=worker-6]")).not.toBeNull();
    // Nothing observed about db-2: no power section, not network-booted, no health report.
    const facts = await page.$$eval("[data-node=db-2] [data-fact]", (els) =>
      els.map((e) => [e.getAttribute("data-fact"), e.textContent?.replace(/\s+/g, " ").trim()]),
    );
    expect(facts).toEqual([
      ["power", "power —"],
      ["lifecycle", "boot —"],
      ["health", "health —"],
    ]);
    await page.screenshot({ path: join(shots, "layout.png") });
    const file = join(home, "layout-change.yaml");
    writeFileSync(
      file,
      "layout:\n  study-shelf:\n    type: shelf\n    where: study\n    size: 3\n    contains:\n      - { node: dgx-spark, at: 1 }\n      - { node: beelink-ser9-max, at: 2 }\n      - { node: worker-5, at: 3 }\n",
    );
    const applied = labIn(home)(["apply", "-f", file]);
    expect(applied.code, applied.stderr).toBe(0);
    // worker-5 is network-booted by Lab: its lifecycle shows where it stands.
    const added = await page.waitForSelector("[data-layout=study-shelf] [data-node=worker-5]");
    expect(await added.textContent()).toMatch(/INSTALL_QUEUE|INSTALLED|DISCOVERED/);
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
    await page.close();
  });

  it("runs a kiosk at 1280×800 that rotates its pages, without navigation or actions", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // The token comes once, in the fragment, which the browser never sends to the server.
    await page.goto(`${server.url}/kiosk?page=layout,live&rotate=5s#token=${admin}`);
    await page.waitForSelector("[data-kiosk-page=layout] [data-layout=basement-rack]");
    expect(await page.evaluate(() => location.hash)).not.toContain("token");
    expect(await page.$("nav.top")).toBeNull();
    expect(await page.$$("[data-action]")).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(shots, "kiosk-layout-1280x800.png") });
    await page.waitForSelector("[data-kiosk-page=live] [data-testid=log-list]", { timeout: 20_000 });
    await page.waitForSelector("tr:has-text('dashboard test')");
    await page.screenshot({ path: join(shots, "kiosk-live-1280x800.png") });
    // Touch: the › button moves on at once.
    await page.click("button[aria-label='next page']");
    await page.waitForSelector("[data-kiosk-page=layout]");
    expect(errors).toEqual([]);
    await context.close();
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
