/**
 * `lab power` in local and client mode against real peers (a relay board behind a socat pty
 * pair, the Redfish mockup), and the server's poller noticing a switch made outside Lab.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer } from "@lab/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { type RedfishMockup, startRedfishMockup } from "../support/redfish-mockup.js";
import { type RelayBoard, startRelayBoard } from "../support/relay-board.js";
import { until } from "../support/wait.js";

let home: string;
let board: RelayBoard;
let bmc: RedfishMockup;
let lab: ReturnType<typeof labAsyncIn>;

beforeAll(async () => {
  home = tempHome("lab-power-cli-");
  board = await startRelayBoard(home);
  bmc = await startRedfishMockup({ password: "s3cret" });
  bmc.system.PowerState = "Off";
  writeFileSync(
    join(home, "fleet.yaml"),
    `labels:
  lab: {}
servers:
  mini-1:
    provider: baremetal
    labels: [lab]
    power: { driver: relay, device: ${board.device}, channel: 1 }
  mini-2:
    provider: baremetal
    labels: [lab]
    power: { driver: relay, device: ${board.device}, channel: 2 }
  r740:
    provider: baremetal
    power: { driver: redfish, url: "${bmc.url}", user: root, password_env: BMC_PASSWORD }
  plain:
    provider: baremetal
`,
  );
  lab = labAsyncIn(home, { BMC_PASSWORD: "s3cret" });
  const applied = await lab(["apply", "-f", join(home, "fleet.yaml")]);
  expect(applied.stderr).toBe("");
});

afterAll(async () => {
  await board?.close();
  await bmc?.close();
});

type Row = { name: string; state: string; nextBoot: string | null; error: { code: string } | null };
const json = (s: string) => JSON.parse(s) as Row[];

describe("lab power, local mode", () => {
  it("status says what each controller says, and not configured where there is none", async () => {
    board.flip(2, "on");
    const r = await lab(["power", "status", "-o", "json"]);
    expect(r.code).toBe(0);
    const rows = json(r.stdout);
    expect(rows.map((x) => [x.name, x.state])).toEqual([
      ["mini-1", "off"],
      ["mini-2", "on"],
      ["plain", "not configured"],
      ["r740", "off"],
    ]);
  });

  it("on -l LABEL switches every selected machine, in order, at the peer", async () => {
    board.flip(2, "off");
    const before = board.received.length;
    const r = await lab(["power", "on", "-l", "lab"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect([board.ports.get(1), board.ports.get(2)]).toEqual(["on", "on"]);
    expect(board.received.slice(before).filter((l) => l.startsWith("on"))).toEqual(["on 1", "on 2"]);
    expect(r.stdout).toMatch(/mini-1\s+relay\s+on/);
  });

  it("--next-boot pxe reaches the BMC before the power-on", async () => {
    const before = bmc.requests.length;
    const r = await lab(["power", "on", "r740", "--next-boot", "pxe", "-o", "json"]);
    expect(r.stderr).toBe("");
    expect(json(r.stdout)[0]).toMatchObject({ name: "r740", state: "on", nextBoot: "pxe" });
    const writes = bmc.requests.slice(before).filter((x) => !x.startsWith("GET"));
    expect(writes).toEqual([
      "PATCH /redfish/v1/Systems/437XR1138R2",
      "POST /redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset",
    ]);
  });

  it("refuses clearly: no power section, a relay's next boot, a wrong password", async () => {
    const plain = await lab(["power", "on", "plain"]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("LAB_E_POWER_NOT_CONFIGURED");
    const relay = await lab(["power", "cycle", "mini-1", "--next-boot", "pxe"]);
    expect(relay.code).toBe(1);
    expect(relay.stderr).toContain("LAB_E_POWER_UNSUPPORTED");
    expect(board.ports.get(1)).toBe("on"); // refused before anything was switched
    const wrong = await labAsyncIn(home, { BMC_PASSWORD: "nope" })(["power", "status", "r740", "-o", "json"]);
    expect(wrong.code).toBe(1);
    expect(json(wrong.stdout)[0]?.error?.code).toBe("LAB_E_POWER_AUTH");
    const missing = await labAsyncIn(home)(["power", "off", "r740"]);
    expect(missing.stderr).toContain("BMC_PASSWORD");
  });

  it("every action is an audit event", async () => {
    const r = await lab(["get", "events", "-o", "json"]);
    const actions = (JSON.parse(r.stdout) as { action: string; summary: string }[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["power.on"]));
  });
});

describe("lab power, client mode, and the poller", () => {
  let server: RunningServer;
  let remote: ReturnType<typeof labAsyncIn>;
  beforeAll(async () => {
    process.env.BMC_PASSWORD = "s3cret";
    server = await startServer({
      home,
      host: "127.0.0.1",
      port: 0,
      tls: true,
      powerPollMs: 200,
      agent: false,
    });
    remote = labAsyncIn(home, {
      LAB_SERVER: server.url,
      LAB_TOKEN: readFileSync(server.adminTokenPath as string, "utf8").trim(),
      LAB_CA_FILE: server.caPath as string,
    });
  });
  afterAll(async () => {
    await server?.close();
    delete process.env.BMC_PASSWORD;
  });

  it("prints what local mode prints", async () => {
    const [a, b] = await Promise.all([
      lab(["power", "status", "mini-1", "mini-2"]),
      remote(["power", "status", "mini-1", "mini-2"]),
    ]);
    expect(b.stdout).toBe(a.stdout);
    expect(b.code).toBe(0);
  });

  it("a switch made outside Lab is noticed and recorded as power.changed", async () => {
    const events = async () =>
      (await server.store.events({ limit: 1000 })).filter((e) => e.action === "power.changed");
    // The poller's first round only learns the states, so the flip must come after a whole
    // round has seen mini-2 on. Rounds run one after another and read the board once per relay
    // server (mini-1, mini-2) or less, so four more reads contain a complete round — counted at
    // the board rather than waited for by the clock (a loaded machine made 1 s too short).
    const reads = () => board.received.filter((l) => l === "status").length;
    const start = reads();
    await until("four poll reads of the relay board", () => reads() >= start + 4, 60_000);
    const before = (await events()).length;
    board.flip(2, "off"); // a person at the board
    const seen = await until(
      "power.changed for mini-2",
      async () => (await events()).slice(before).find((e) => e.summary.startsWith("mini-2: power on → off")),
      60_000,
    );
    expect(seen.subjects).toEqual(["server/mini-2"]);
    expect(seen.actor).toBe("power");
  });

  it("an action through the API is recorded with who did it, and is not an outside change", async () => {
    const r = await remote(["power", "off", "mini-1"]);
    expect(r.code).toBe(0);
    expect(board.ports.get(1)).toBe("off");
    await new Promise((r2) => setTimeout(r2, 800));
    const all = await server.store.events({ limit: 1000 });
    expect(
      all.some((e) => e.action === "power.off" && e.actor !== "power" && e.summary.startsWith("mini-1")),
    ).toBe(true);
    expect(all.some((e) => e.action === "power.changed" && e.summary.startsWith("mini-1"))).toBe(false);
  });
});

describe("lab onboard --ipmi (Scenario C)", () => {
  it("declares the BMC, sets PXE as the next boot and powers the machine on", async () => {
    const { ipmiSimPeer } = await import("../support/power-peers.js");
    const bmc2 = await ipmiSimPeer();
    try {
      const home2 = tempHome("lab-onboard-ipmi-");
      const r = await labAsyncIn(home2, { BMC_PW: "lab-secret" })([
        "onboard",
        "beelink-max",
        "--provider",
        "baremetal",
        "--mac",
        "AA:BB:CC:DD:EE:FF",
        "--ipmi",
        "127.0.0.1",
        "--ipmi-port",
        String(bmc2.port),
        "--ipmi-user",
        "admin",
        "--ipmi-password-env",
        "BMC_PW",
        "--yes",
        "--no-wait",
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // The provider switched it (Step 3, as lab apply server does), and says what the BMC reports.
      expect(r.stdout).toContain("→ baremetal: power cycle, next boot pxe → on");
      expect(await bmc2.observed()).toBe("on");
      expect(await bmc2.observedNextBoot?.()).toBe("pxe");
      const shown = await labAsyncIn(home2, { BMC_PW: "lab-secret" })([
        "power",
        "status",
        "beelink-max",
        "-o",
        "json",
      ]);
      expect(json(shown.stdout)[0]).toMatchObject({
        name: "beelink-max",
        driver: "ipmi",
        state: "on",
        nextBoot: "pxe",
      });
    } finally {
      await bmc2.cleanup();
    }
  });
});
