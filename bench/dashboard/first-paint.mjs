/**
 * First paint of the dashboard's fleet page against the 10k bench fleet (bench/api/generate.mjs),
 * measured in Debian's Chromium: from navigation (a saved token, so no login step) to the first
 * server row on screen, and the time to scroll to the end of the list. Each run is a fresh page.
 * Beside it, the same API call from Node (GET /api/v1/servers), so the page's own cost shows.
 *
 *   npm run build && node bench/dashboard/first-paint.mjs [SERVERS] [RUNS]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const SERVERS = Number(process.argv[2] ?? 10_000);
const RUNS = Number(process.argv[3] ?? 5);
const PORT = 17150;
const home = mkdtempSync(join(tmpdir(), "lab-bench-dash-"));
const env = { ...process.env, LAB_HOME: home, HOME: home };
const lab = (...args) => execFileSync(process.execPath, ["bin/lab.js", ...args], { env, encoding: "utf8" });

execFileSync(process.execPath, ["bench/api/generate.mjs", join(home, "fleet"), String(SERVERS)]);
lab("init", "--local");
lab("apply", "-f", join(home, "fleet"));
const server = spawn(
  process.execPath,
  ["bin/lab.js", "server", "--listen", `127.0.0.1:${PORT}`, "--insecure-http"],
  {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  },
);
await new Promise((resolve) => server.stdout.on("data", (c) => String(c).includes("Ready.") && resolve()));
const token = readFileSync(join(home, "server/admin.token"), "utf8").trim();
const url = `http://127.0.0.1:${PORT}`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const api = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/v1/servers`, { headers: { authorization: `Bearer ${token}` } });
  await res.json();
  api.push(performance.now() - t0);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const paint = [];
const scroll = [];
let rows = 0;
for (let i = 0; i < RUNS; i++) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  await context.addInitScript((t) => localStorage.setItem("lab.token", t), token);
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(`${url}/`);
  await page.waitForSelector("[data-server]");
  paint.push(Date.now() - t0);
  rows = await page.$$eval("[data-server]", (els) => els.length);
  const t1 = Date.now();
  await page.$eval(".fleet-table .scroll", (el) => {
    el.scrollTop = el.scrollHeight;
  });
  await page.waitForFunction(
    (n) =>
      document.querySelector(`[data-server]:last-child`) && document.querySelector(".scroll").scrollTop > n,
    0,
  );
  scroll.push(Date.now() - t1);
  await context.close();
}
await browser.close();
server.kill("SIGTERM");
rmSync(home, { recursive: true, force: true });

console.log(`fleet page, ${SERVERS} servers, ${RUNS} runs (median):`);
console.log(`  first paint (navigation → first row on screen): ${median(paint)} ms   [${paint.join(", ")}]`);
console.log(`  GET /api/v1/servers from Node (same data):        ${median(api).toFixed(0)} ms`);
console.log(`  rows in the DOM: ${rows} of ${SERVERS} (virtualised)`);
console.log(`  scroll to the end: ${median(scroll)} ms`);
