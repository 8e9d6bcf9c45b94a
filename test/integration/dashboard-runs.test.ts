/**
 * The dashboard's power buttons and the lab-run progress slideshow, in real headless Chromium
 * against a real `lab server`:
 *
 *  - the server page shows the power the controller answers — a Redfish BMC stand-in (the
 *    DMTF mockup over HTTPS, self-signed, fingerprint pinned; no BMC runs here) — and its
 *    on/off/cycle buttons act behind a confirmation (the mockup's PowerState changes); a BMC
 *    that refuses the password shows LAB_E_POWER_AUTH, and so does its button's outcome; a
 *    server without `power:` says "not configured" and has no buttons;
 *  - `#/runs/latest?lab=demo` shows a slide per step with its explain: text, advancing when the
 *    run's steps start (run.step events on the stream) — the test holds the run on a
 *    wait-callback step and releases it with a callback — then the run's result and the
 *    reliability bars from /api/v1/runs/report.
 *
 * Screenshots: LAB_SHOTS_DIR or a temporary folder (printed).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../support/browser.js";
import { labIn, tempHome } from "../support/cli.js";
import { type RedfishMockup, startRedfishMockup } from "../support/redfish-mockup.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";

let home: string;
let server: ServerProcess;
let browser: Browser;
let bmc: RedfishMockup;
const shots = process.env.LAB_SHOTS_DIR ?? join(tempHome("lab-h14-shots-"), "shots");

beforeAll(async () => {
  home = tempHome("lab-dashboard-runs-");
  bmc = await startRedfishMockup({ tls: true });
  bmc.system.PowerState = "Off";
  const lab = labIn(home);
  expect(lab(["init", "--local"]).code).toBe(0);
  const model = join(home, "model.yaml");
  writeFileSync(
    model,
    `servers:
  bmc-1:
    provider: baremetal
    power: { driver: redfish, url: "${bmc.url}", user: ${bmc.user}, password_env: LAB_T_BMC_PW, fingerprint: "${bmc.cert?.fingerprint}" }
  bmc-bad:
    provider: baremetal
    power: { driver: redfish, url: "${bmc.url}", user: ${bmc.user}, password_env: LAB_T_BAD_PW, fingerprint: "${bmc.cert?.fingerprint}" }
  plain-1:
    provider: baremetal
labs:
  demo:
    description: a lab the test holds on a callback
    machines: [plain-1]
    steps:
      - action: host-command
        name: warm up
        command: ["true"]
        explain: the rig gets ready
      - action: wait-callback
        key: go
        timeout: 5m
        explain: waiting for plain-1 to report go
      - action: sleep
        for: 1s
        explain: a breath before the end
`,
  );
  const applied = lab(["apply", "-f", model]);
  expect(applied.code, applied.stderr).toBe(0);
  server = await startLabServer({
    home,
    args: ["--power-poll", "0"],
    env: { LAB_T_BMC_PW: bmc.password, LAB_T_BAD_PW: "not-the-password" },
  });
  browser = await launchChromium();
  mkdirSync(shots, { recursive: true });
  console.log(`screenshots: ${shots}`);
});

afterAll(async () => {
  await browser?.close();
  await killAllServers();
  await bmc?.close();
  rmSync(home, { recursive: true, force: true });
});

async function signedIn(): Promise<Page & { errors: string[] }> {
  const page = (await browser.newPage({ viewport: { width: 1600, height: 1000 } })) as Page & {
    errors: string[];
  };
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.fill("input[name=token]", server.token as string);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=who]");
  return page;
}

async function confirm(page: Page, action: string): Promise<void> {
  await page.click(`[data-action=${action}]`);
  await page.click(`[data-confirm=${action}]`);
  await page.waitForSelector(`[data-outcome=${action}]`);
}

describe("the dashboard: power and lab runs", () => {
  it("server page: the observed power, and on/off/cycle behind a confirmation", async () => {
    const page = await signedIn();
    await page.goto(`${server.url}/#/servers/bmc-1`);
    await page.waitForSelector("[data-testid=power-state][data-state=off]");
    expect(await page.textContent("[data-testid=power]")).toContain("PowerState: Off");
    const startsBefore = bmc.starts;
    await confirm(page, "power-on");
    expect(await page.textContent("[data-outcome=power-on]")).toContain("done");
    expect(bmc.system.PowerState).toBe("On");
    expect(bmc.starts).toBe(startsBefore + 1);
    await page.waitForSelector("[data-testid=power-state][data-state=on]");
    await confirm(page, "power-cycle");
    expect(bmc.starts).toBe(startsBefore + 2);
    await confirm(page, "power-off");
    expect(bmc.system.PowerState).toBe("Off");
    await page.waitForSelector("[data-testid=power-state][data-state=off]");
    // Cancel switches nothing (the page may still ask for the state: GETs).
    const writes = () => bmc.requests.filter((r) => !r.startsWith("GET ")).length;
    const before = writes();
    await page.click("[data-action=power-on]");
    await page.click("text=Cancel");
    await page.waitForSelector("[role=dialog]", { state: "detached" });
    expect(writes()).toBe(before);
    expect(bmc.system.PowerState).toBe("Off");
    await page.screenshot({ path: join(shots, "server-power.png") });
    expect(page.errors).toEqual([]);
    await page.close();
  });

  it("a refused password shows its code, on the page and on the button's outcome", async () => {
    const page = await signedIn();
    await page.goto(`${server.url}/#/servers/bmc-bad`);
    await page.waitForSelector("[data-testid=power-state][data-state=error]");
    expect(await page.textContent("[data-testid=power-state]")).toContain("LAB_E_POWER_AUTH");
    await confirm(page, "power-on");
    expect(await page.textContent("[data-outcome=power-on]")).toContain("LAB_E_POWER_AUTH");
    expect(bmc.system.PowerState).toBe("Off");
    await page.goto(`${server.url}/#/servers/plain-1`);
    await page.waitForSelector("[data-testid=power-not-configured]");
    expect(await page.textContent("[data-testid=power-state]")).toContain("not configured");
    expect(await page.$("[data-testid=power-actions]")).toBeNull();
    // A load sample (the key an agent's heartbeat reports) is charted on the server page.
    for (const value of [0.5, 1.25]) {
      const r = await server.request("POST", "/api/v1/callbacks", {
        server: "plain-1",
        key: "load.1m",
        status: "ok",
        value,
      });
      expect(r.status).toBe(202);
    }
    await page.waitForSelector("[data-testid=server-callback-chart] canvas");
    expect(await page.textContent("[data-testid=server-callback-chart]")).toContain("load.1m");
    await page.waitForSelector("[data-callback='load.1m'] >> text=1.25");
    await page.close();
  });

  it("the slideshow: a slide per step with its explain text, advancing with the run", async () => {
    const page = await signedIn();
    await page.goto(`${server.url}/#/runs/latest?lab=demo`);
    await page.waitForSelector("text=no run of demo yet");
    const started = await server.request<{ runId: string }>("POST", "/api/v1/labs/demo/runs", {});
    expect(started.status).toBe(200);
    // The run waits on step 2 until the callback: the page must get there by itself.
    await page.waitForSelector("[data-testid=slide][data-step='1']");
    expect(await page.textContent("[data-testid=explain]")).toBe("waiting for plain-1 to report go");
    expect(await page.getAttribute("[data-dot='0']", "data-status")).toBe("ok");
    expect(await page.getAttribute("[data-dot='1']", "data-status")).toBe("running");
    expect(await page.getAttribute("[data-dot='2']", "data-status")).toBe("pending");
    await page.screenshot({ path: join(shots, "run-slides.png") });
    const reported = await server.request("POST", "/api/v1/callbacks", {
      server: "plain-1",
      key: "go",
      status: "ok",
    });
    expect(reported.status).toBe(202);
    await page.waitForSelector("[data-testid=slide][data-step='2']");
    expect(await page.textContent("[data-testid=explain]")).toBe("a breath before the end");
    await page.waitForSelector("[data-testid=slides][data-status=ok]");
    // The reliability bars: one run, every step ok.
    await page.waitForSelector("[data-testid=reliability-demo] [data-step='2']");
    expect(await page.textContent("[data-testid=reliability-demo]")).toContain("1/1 ok");
    // Paging back shows the earlier step's slide (with what the record says of it).
    await page.click("[data-dot='0']");
    await page.waitForSelector("[data-testid=slide][data-step='0']");
    expect(await page.textContent("[data-testid=slide]")).toContain("true exited 0");
    await page.goto(`${server.url}/#/runs`);
    await page.waitForSelector(`[data-run='${started.body.runId}']`);
    await page.screenshot({ path: join(shots, "runs.png") });
    expect(page.errors).toEqual([]);
    await page.close();
  });
});
