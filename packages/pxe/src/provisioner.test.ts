import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Hardware, isLabError } from "@lab/core";
import { type KyselyStore, openSqliteStore } from "@lab/store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Provisioner } from "./provisioner.js";
import { lastBoot, Timeline, withDurations } from "./timeline.js";

const MAC = "52:54:00:aa:bb:01";
const hardware: Hardware = {
  arch: "x86_64",
  firmware: "bios",
  cpu: { model: "QEMU Virtual CPU", cores: 1 },
  memoryBytes: 512 * 2 ** 20,
  disks: [{ name: "vda", type: "virtual", sizeBytes: 2 ** 30, removable: false }],
  nics: [{ name: "eth0", mac: MAC, ipv4: [] }],
  gpus: [],
  warnings: [],
};

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isLabError(e) ? e.code : `not a LabError: ${(e as Error).message}`;
  }
  return "no error";
}

describe("Provisioner", () => {
  let dir: string;
  let store: KyselyStore;
  let p: Provisioner;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "lab-prov-"));
    store = await openSqliteStore(join(dir, "state.db"));
    const timeline = new Timeline(store.db);
    p = new Provisioner({ db: store.db, store, timeline, secret: Buffer.alloc(32, 7), discover: true });
  });
  afterEach(async () => {
    await p.timeline.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("discovers an unknown machine from its inventory, then queues and installs it", async () => {
    const first = await p.dispatch(MAC.toUpperCase(), "10.0.0.50");
    expect(first.action).toBe("discover");
    if (first.action !== "discover") return;
    const m = await p.inventory({ mac: MAC, ...hardware }, first.token, "::ffff:10.0.0.50");
    expect(m).toMatchObject({
      state: "DISCOVERED",
      ip: "10.0.0.50",
      hardware: { memoryBytes: 512 * 2 ** 20 },
    });

    await p.install(MAC, { image: "lab-discovery", name: "node-1" });
    const boot = await p.dispatch(MAC);
    expect(boot.action).toBe("install");
    if (boot.action !== "install") return;
    expect(boot.image.name).toBe("lab-discovery");
    // The discovery token cannot drive an install; the install token can.
    expect(await code(p.progress({ mac: MAC, stage: "booted" }, first.token))).toBe("LAB_E_INSTALL_TOKEN");
    for (const stage of ["booted", "partitioning", "installing", "configuring"]) {
      expect((await p.progress({ mac: MAC, stage }, boot.token)).state).toBe("INSTALLING");
    }
    expect((await p.progress({ mac: MAC, stage: "complete", status: "ok" }, boot.token)).state).toBe(
      "INSTALLED",
    );
    expect((await p.dispatch(MAC)).action).toBe("local");
    // The install token dies with the install.
    expect(await code(p.progress({ mac: MAC, stage: "installing" }, boot.token))).toBe("LAB_E_INSTALL_TOKEN");

    const steps = withDurations(lastBoot(await p.timeline.read(MAC)));
    expect(steps.map((s) => `${s.kind}:${s.type}`)).toContain("progress:complete");
    expect(steps.at(-1)?.sinceStartMs).toBeGreaterThanOrEqual(0);
    const actions = (await store.events({ limit: 20 })).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["provision.discover", "provision.install", "provision.complete"]),
    );
  });

  it("enlists a machine before it boots and fails an install with the reason", async () => {
    await p.enlist({ mac: MAC, name: "web-1", image: "debian-12" });
    const boot = await p.dispatch(MAC);
    if (boot.action !== "install") throw new Error(`expected install, got ${boot.action}`);
    const m = await p.progress(
      { mac: MAC, stage: "partitioning", status: "failed", message: "no disk" },
      boot.token,
    );
    expect(m).toMatchObject({ state: "FAILED", reason: "partitioning: no disk" });
    expect((await p.dispatch(MAC)).action).toBe("refuse");
    expect((await p.reprovision("web-1", { preserve: ["/srv"] })).state).toBe("INSTALL_QUEUE");
  });

  it("serves debug once, then the normal decision", async () => {
    await p.enlist({ mac: MAC, name: "web-1", image: "debian-12" });
    await p.debug("web-1");
    expect((await p.dispatch(MAC)).action).toBe("debug");
    expect((await p.dispatch(MAC)).action).toBe("install");
  });

  it("refuses bad reports, wrong tokens and illegal moves with codes, changing nothing", async () => {
    await p.enlist({ mac: MAC, name: "web-1", image: "debian-12" });
    const before = await p.find(MAC);
    const table: [string, Promise<unknown>, string][] = [
      ["inventory without cpu", p.inventory({ mac: MAC, arch: "x86_64" }, "x"), "LAB_E_BAD_REPORT"],
      ["progress with a bad stage", p.progress({ mac: MAC, stage: "Rm -rf" }, "x"), "LAB_E_BAD_REPORT"],
      [
        "progress with a wrong token",
        p.progress({ mac: MAC, stage: "booted" }, "nope"),
        "LAB_E_INSTALL_TOKEN",
      ],
      [
        "progress without a token",
        p.progress({ mac: MAC, stage: "booted" }, undefined),
        "LAB_E_INSTALL_TOKEN",
      ],
      ["reprovisioning a queued machine", p.reprovision(MAC), "LAB_E_ILLEGAL_TRANSITION"],
      ["an unknown image", p.enlist({ mac: "52:54:00:00:00:09", name: "x", image: "nope" }), "LAB_E_IMAGE"],
      [
        "a taken name",
        p.enlist({ mac: "52:54:00:00:00:09", name: "web-1", image: "debian-12" }),
        "LAB_E_CONFLICT",
      ],
      ["an unknown machine", p.install("nope"), "LAB_E_NOT_FOUND"],
    ];
    for (const [name, promise, want] of table) expect(await code(promise), name).toBe(want);
    expect(await p.find(MAC)).toEqual(before);
  });

  it("refuses unknown machines when discovery is off", async () => {
    const quiet = new Provisioner({ db: store.db, store, timeline: p.timeline, secret: Buffer.alloc(32) });
    expect((await quiet.dispatch(MAC)).action).toBe("refuse");
    expect((await quiet.dispatch("not-a-mac")).action).toBe("refuse");
  });
});
