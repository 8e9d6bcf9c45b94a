/**
 * Remote bastions with real processes: one `lab server` and two `lab bastion` processes
 * (site-a, site-b), each with its own state and boot port. Machines are driven through the
 * bastions' boot HTTP as an installer drives it (dispatch, install config, progress). The
 * control plane mirrors every site's machines and steps, routes lifecycle commands to the
 * bastion that serves the MAC, and — killed mid-install — catches up with every step the
 * bastion recorded meanwhile, each stored once. Waits poll for a state with a hang guard.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killTracked, spawnTracked, type TrackedChild } from "../support/child.js";
import { labIn, ROOT, tempHome } from "../support/cli.js";
import { killAllServers, type ServerProcess, startLabServer } from "../support/server-process.js";
import { until as untilWithin } from "../support/wait.js";

/** A bastion reconnects with backoff (up to 15 s): a guard longer than the shared default. */
const until = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>) =>
  untilWithin(what, probe, 60_000);

const API = "127.0.0.1:17240";
const CHANNEL = "127.0.0.1:17241";
const SITES = {
  "site-a": { boot: 17242, syslog: 17243 },
  "site-b": { boot: 17244, syslog: 17245 },
} as const;
type Site = keyof typeof SITES;
const WEB = "52:54:00:ba:57:01";
const DB = "52:54:00:ba:57:02";

let home: string;
let server: ServerProcess;
const bastions = new Map<Site, TrackedChild>();
const stateOf = (s: Site) => join(home, "sites", s);
const boot = (s: Site, path: string, init?: RequestInit) =>
  fetch(`http://127.0.0.1:${SITES[s].boot}${path}`, init);
const admin = () =>
  labIn(home, {
    LAB_SERVER: `https://${API}`,
    LAB_TOKEN: server.token as string,
    LAB_CA_FILE: join(home, "server", "ca.crt"),
  });

async function startSite(s: Site, token?: string): Promise<TrackedChild> {
  const args = [
    join(ROOT, "bin/lab.js"),
    "bastion",
    "--join",
    `https://${API}`,
    "--ca-file",
    join(home, "server", "ca.crt"),
    "--state-dir",
    stateOf(s),
    "--name",
    s,
    "--dhcp",
    "off",
    "--no-tftp",
    "--advertise",
    "127.0.0.1",
    "--boot-port",
    String(SITES[s].boot),
    "--syslog-port",
    String(SITES[s].syslog),
  ];
  if (token) {
    const file = join(home, `${s}.token`);
    writeFileSync(file, token, { mode: 0o600 });
    args.push("--join-token-file", file);
  }
  const child = spawnTracked(process.execPath, args);
  bastions.set(s, child);
  await until(`${s} ready`, () => child.output().includes("Ready."));
  return child;
}

const bastionRows = () =>
  JSON.parse(admin()(["get", "bastions", "-o", "json"]).stdout || "[]") as {
    name: string;
    connected: boolean;
    machines: number;
    ackedSeq: number;
  }[];
const connected = (s: Site) => bastionRows().find((b) => b.name === s)?.connected === true;

/** An installer at a site: the token dispatch gave it, then its progress reports. */
async function installer(s: Site, mac: string) {
  const script = await (await boot(s, `/pxe/v1/dispatch?mac=${mac}&platform=efi`)).text();
  const token = /\/pxe\/v1\/machines\/[^/]+\/([A-Za-z0-9_-]{43})\//.exec(script)?.[1];
  return {
    script,
    token,
    config: async () => (await boot(s, `/pxe/v1/machines/${mac}/${token}/user-data`)).text(),
    progress: async (stage: string, status = "running") =>
      (
        await boot(s, "/pxe/v1/progress", {
          method: "POST",
          headers: { "content-type": "application/json", "x-lab-install-token": token ?? "" },
          body: JSON.stringify({ mac, stage, status }),
        })
      ).status,
  };
}

beforeAll(async () => {
  home = tempHome("lab-bastions-");
  server = await startLabServer({ home, tls: true, args: ["--listen", API, "--agent-listen", CHANNEL] });
  for (const s of Object.keys(SITES) as Site[]) {
    const { body } = await server.request<{ token: string }>("POST", "/api/v1/join-tokens", { name: s });
    await startSite(s, body.token);
  }
  await until("both bastions connected", () => connected("site-a") && connected("site-b"));
}, 120_000);

afterAll(async () => {
  for (const b of bastions.values()) await b.stop();
  await killTracked();
  await killAllServers();
  rmSync(home, { recursive: true, force: true });
});

describe("remote bastions", () => {
  it("enrol with a one-time token, and lab get bastions shows what each reports", () => {
    const table = admin()(["get", "bastions"]).stdout;
    expect(table.split("\n")[0]).toMatch(/^NAME\s+LINK\s+SINCE\s+ADDRESS\s+BOOT\s+MACHINES\s+STEPS$/);
    expect(table).toMatch(/site-a\s+connected\s+\S+ ago\s+127\.0\.0\.1\s+http:\/\/127\.0\.0\.1:17242\s+0/);
    // The token file is spent and gone.
    expect(() => readFileSync(join(home, "site-a.token"))).toThrow();
  });

  it("routes each machine's enlistment to its site; each site serves only its own machines", async () => {
    const lab = admin();
    const web = lab([
      "onboard",
      "web-1",
      "--provider",
      "baremetal",
      "--mac",
      WEB,
      "--bastion",
      "site-a",
      "--yes",
      "--no-wait",
    ]);
    expect(web.stderr).toBe("");
    expect(web.stdout).toContain("bastion site-a");
    const db = lab([
      "onboard",
      "db-1",
      "--provider",
      "baremetal",
      "--mac",
      DB,
      "--bastion",
      "site-b",
      "--yes",
      "--no-wait",
    ]);
    expect(db.code).toBe(0);
    const list = lab(["provision", "list"]).stdout;
    expect(list).toMatch(new RegExp(`${WEB}\\s+web-1\\s+INSTALL_QUEUE\\s+ubuntu-24.04\\s+-\\s+site-a`));
    expect(list).toMatch(new RegExp(`${DB}\\s+db-1\\s+INSTALL_QUEUE\\s+ubuntu-24.04\\s+-\\s+site-b`));
    expect((await installer("site-a", WEB)).script).toContain("echo lab: install ubuntu-24.04 for web-1");
    expect((await installer("site-b", WEB)).script).toContain("Lab does not know this machine");
    expect((await installer("site-b", DB)).script).toContain("echo lab: install ubuntu-24.04 for db-1");
  });

  it("keeps installing while the control plane is down, and the control plane catches up with every step once", async () => {
    const i = await installer("site-a", WEB);
    expect(i.token).toBeDefined();
    // The config's join token came with the command, minted while the control plane was up.
    expect(await i.config()).toMatch(/labj_/);
    expect(await i.progress("partitioning")).toBe(200);
    await until("the server to have the partitioning step", async () => {
      const t = JSON.parse(admin()(["provision", "timeline", "web-1", "-o", "json"]).stdout || "[]") as {
        type: string;
      }[];
      return t.some((s) => s.type === "partitioning");
    });

    server.kill("SIGKILL");
    await server.exited;
    expect(await i.progress("packages")).toBe(200);
    expect(await i.progress("bootloader")).toBe(200);
    expect(await i.progress("complete", "ok")).toBe(200);
    // The site knows the install finished: the next boot is from disk.
    expect((await installer("site-a", WEB)).script).toMatch(/sanboot|exit|local/);

    server = await startLabServer({ home, tls: true, args: ["--listen", API, "--agent-listen", CHANNEL] });
    await until("web-1 INSTALLED at the control plane", () =>
      admin()(["provision", "list"]).stdout.match(new RegExp(`${WEB}\\s+web-1\\s+INSTALLED`)),
    );
    await until("every step of the outage stored", () => {
      const t = JSON.parse(
        admin()(["provision", "timeline", "web-1", "--all", "-o", "json"]).stdout || "[]",
      ) as {
        type: string;
      }[];
      return t.some((s) => s.type === "complete") ? t : undefined;
    });
    const steps = JSON.parse(admin()(["provision", "timeline", "web-1", "--all", "-o", "json"]).stdout) as {
      type: string;
      kind: string;
    }[];
    for (const stage of ["partitioning", "packages", "bootloader", "complete"]) {
      expect(steps.filter((s) => s.kind === "progress" && s.type === stage)).toHaveLength(1);
    }
  });

  it("routes lifecycle commands to the machine's bastion, and says so when it is down", async () => {
    const lab = admin();
    await until("site-a connected again", () => connected("site-a"));
    const r = lab(["provision", "reprovision", "web-1"]);
    expect(r.code).toBe(0);
    expect((await installer("site-a", WEB)).script).toContain("echo lab: install ubuntu-24.04 for web-1");
    await bastions.get("site-b")?.stop();
    await until("site-b down", () => !connected("site-b"));
    const down = lab(["provision", "debug", "db-1"]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toContain("LAB_E_BASTION_UNREACHABLE");
    expect(down.stderr).toContain("bastion site-b, which is not connected");
  });
});
