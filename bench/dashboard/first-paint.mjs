/**
 * First paint of the dashboard's fleet page against the 10k bench fleet (bench/api/generate.mjs),
 * measured in Debian's Chromium: from navigation start (a saved token, so no login step) to the
 * first server row in the DOM, read inside the page (performance.now() when a MutationObserver
 * first sees a row) so the automation's own round trips are not counted; the wall time seen
 * from Node is printed beside it. Then the time to scroll to the end of the list. Each run is a
 * fresh page. Beside it, the same data from Node: GET /api/v1/servers (the full rows) and
 * GET /api/v1/fleet (the compact table the page reads), with their sizes.
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
const fromNode = async (path) => {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    // More than the response cache's second apart: every call computes the answer, as the
    // first visit after a change does.
    await new Promise((r) => setTimeout(r, 1100));
    const t0 = performance.now();
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    JSON.parse(text);
    times.push(performance.now() - t0);
    bytes = Buffer.byteLength(text);
  }
  return { ms: median(times), bytes };
};
const api = await fromNode("/api/v1/servers");
const compact = await fromNode("/api/v1/fleet");

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const paint = [];
const wall = [];
const scroll = [];
let rows = 0;
for (let i = 0; i < RUNS; i++) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  await context.addInitScript((t) => {
    localStorage.setItem("lab.token", t);
    new MutationObserver((_, observer) => {
      if (document.querySelector("[data-server]")) {
        window.__firstRow = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, childList: true });
  }, token);
  const page = await context.newPage();
  // Past the response cache's second: the page's data is computed for it, not replayed.
  await new Promise((r) => setTimeout(r, 1100));
  const t0 = Date.now();
  await page.goto(`${url}/`);
  await page.waitForSelector("[data-server]");
  wall.push(Date.now() - t0);
  paint.push(Math.round(await page.evaluate(() => window.__firstRow)));
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
const kb = (b) => `${(b / 1024).toFixed(0)} KiB`;
console.log(
  `  first paint (navigation → first row, in the page): ${median(paint)} ms   [${paint.join(", ")}]`,
);
console.log(`  the same seen from Node (goto → selector found):   ${median(wall)} ms   [${wall.join(", ")}]`);
console.log(`  GET /api/v1/servers from Node (full rows):  ${api.ms.toFixed(0)} ms, ${kb(api.bytes)}`);
console.log(
  `  GET /api/v1/fleet from Node (what the page reads): ${compact.ms.toFixed(0)} ms, ${kb(compact.bytes)}`,
);
console.log(`  first paint / GET /api/v1/servers: ${(median(paint) / api.ms).toFixed(2)}×`);
console.log(`  rows in the DOM: ${rows} of ${SERVERS} (virtualised)`);
console.log(`  scroll to the end: ${median(scroll)} ms`);
