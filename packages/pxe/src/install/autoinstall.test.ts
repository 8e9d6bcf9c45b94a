/**
 * Ubuntu autoinstall files checked with the real validators: `cloud-init schema` (Debian's
 * cloud-init) for the cloud-config parts, and Ubuntu's published autoinstall JSON Schema
 * (subiquity, read from ../shared/schemas; it has no $schema so draft-07, ajv's default) for the
 * `autoinstall:` section. The disk-choice early command is run against a fake /sys and a copy of
 * /autoinstall.yaml.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  autoinstallSection,
  DISK_PLACEHOLDER,
  renderAutoinstallMetaData,
  renderAutoinstallUserData,
} from "./autoinstall.js";
import { renderInstallFile } from "./files.js";
import { CONTEXT_VARIANTS, SAMPLE_IMAGES, sampleContext } from "./testing.js";
import { DISKS, fakeSysfs, type ProgressServer, progressServer, runSh } from "./testing-sh.js";

// Ubuntu's schema is the user's test data in ../shared/schemas (AGPL, not copied into Lab).
const SCHEMA_CANDIDATES = [
  process.env.LAB_AUTOINSTALL_SCHEMA,
  join(import.meta.dirname, "../../../../../shared/schemas/ubuntu-autoinstall-schema.json"),
  "/work/shared/schemas/ubuntu-autoinstall-schema.json",
].filter((p): p is string => Boolean(p));
const SCHEMA_PATH =
  SCHEMA_CANDIDATES.find((p) => existsSync(p)) ??
  `(not found: put Ubuntu's autoinstall schema at ../shared/schemas/ or set LAB_AUTOINSTALL_SCHEMA; looked in ${SCHEMA_CANDIDATES.join(", ")})`;
const ubuntu = SAMPLE_IMAGES.ubuntu as never;

function cloudInitSchema(file: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile("cloud-init", ["schema", "-c", file], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
        return reject(new Error("cloud-init is missing: apt-get install -y cloud-init"));
      resolve({ code: err ? Number(err.code) || 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

let dir: string;
let validateSection: (data: unknown) => boolean;
let schemaErrors: () => string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ldc-ai-"));
  const schema = JSON.parse(await readFile(SCHEMA_PATH, "utf8"));
  const ajv = new Ajv({ allErrors: true, strict: false });
  const v = ajv.compile(schema);
  validateSection = (d) => v(d) as boolean;
  schemaErrors = () => ajv.errorsText(v.errors);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the validators themselves", () => {
  it("ajv rejects an autoinstall section the schema forbids", () => {
    expect(validateSection({ version: 2 })).toBe(false);
    expect(validateSection({ version: 1, shutdown: "halt" })).toBe(false);
    expect(validateSection({ version: 1, identity: { username: "x" } })).toBe(false);
  });
  it("cloud-init schema rejects a bad cloud-config", async () => {
    const f = join(dir, "bad");
    await writeFile(f, "#cloud-config\nusers:\n  - name: x\n    lock_passwd: maybe\n");
    expect((await cloudInitSchema(f)).code).not.toBe(0);
  });
});

describe("renderAutoinstallUserData", () => {
  let k = 0;
  for (const v of CONTEXT_VARIANTS) {
    it(`validates: ${v.name}`, async () => {
      const ctx = sampleContext(ubuntu, v.over);
      const text = renderAutoinstallUserData(ctx);
      expect(text.startsWith("#cloud-config\nautoinstall:\n")).toBe(true);
      const doc = parse(text) as { autoinstall: Record<string, unknown> };
      const section = doc.autoinstall;
      expect(validateSection(section), schemaErrors()).toBe(true);
      expect(section.version).toBe(1);

      // The cloud-init part: the file without autoinstall:, and the installed system's user-data.
      const { autoinstall: _, ...rest } = doc;
      const outer = join(dir, `outer-${k}`);
      const target = join(dir, `target-${k++}`);
      await writeFile(outer, `#cloud-config\n${stringify(rest)}`);
      await writeFile(target, `#cloud-config\n${stringify(section["user-data"])}`);
      for (const f of [outer, target]) {
        const r = await cloudInitSchema(f);
        expect(r, f).toEqual({ code: 0, out: expect.stringContaining("Valid cloud-config") });
      }

      const ud = section["user-data"] as {
        users: { name: string; ssh_authorized_keys: string[]; lock_passwd: boolean }[];
      };
      expect(ud.users[0]).toMatchObject({ name: ctx.adminUser ?? "lab", lock_passwd: true });
      expect(ud.users[0]?.ssh_authorized_keys).toHaveLength(2);
      expect(section.ssh).toEqual({ "install-server": true, "allow-pw": false });
      const all = JSON.stringify(section);
      expect(all.includes("console=ttyS0")).toBe(ctx.console !== undefined);
      expect(all.includes("/etc/lab/join-token")).toBe(ctx.joinToken !== undefined);
      expect(all.includes("@10.0.0.1:5514")).toBe(ctx.syslog !== undefined);
      expect(all).toContain("/pxe/v1/progress");
      expect(section.storage).toEqual({
        layout: { name: "lvm", "sizing-policy": "all", match: { path: DISK_PLACEHOLDER } },
      });
    });
  }

  it("meta-data names the host and a fresh instance per install", () => {
    const a = parse(renderAutoinstallMetaData(sampleContext(ubuntu)));
    const b = parse(renderAutoinstallMetaData(sampleContext(ubuntu, { installToken: "b".repeat(43) })));
    expect(a["local-hostname"]).toBe("web-1");
    expect(a["instance-id"]).toMatch(/^lab-525400123456-[0-9a-f]{12}$/);
    expect(a["instance-id"]).not.toBe(b["instance-id"]);
  });

  it("serves user-data, meta-data and an empty vendor-data; nothing else", () => {
    const ctx = sampleContext(ubuntu);
    expect(renderInstallFile(ctx, "vendor-data")).toEqual({
      contentType: "text/yaml; charset=utf-8",
      body: "",
    });
    expect(renderInstallFile(ctx, "user-data")?.contentType).toContain("cloud-config");
    expect(renderInstallFile(ctx, "ks.cfg")).toBeUndefined();
  });

  it("refuses to keep volumes on reprovision (kickstart only)", () => {
    let err: unknown;
    try {
      autoinstallSection(sampleContext(ubuntu, { reprovision: true, preserve: ["/home"] }));
    } catch (e) {
      err = e;
    }
    expect(isLabError(err) && err.code).toBe("LAB_E_INSTALL_UNSUPPORTED");
  });
});

describe("the early commands, run against a fake machine", () => {
  let server: ProgressServer;
  beforeAll(async () => {
    server = await progressServer();
  });
  afterAll(async () => {
    await server.close();
  });

  const CASES = [
    { name: "NVMe chosen over a USB SSD", disks: [DISKS.usbSsd, DISKS.nvme], pick: "nvme0n1" },
    { name: "no disk: the install stops", disks: [DISKS.usbSsd], pick: null },
  ];
  let k = 0;
  for (const c of CASES) {
    it(c.name, async () => {
      const d = join(dir, `early-${k++}`);
      const sys = await fakeSysfs(d, c.disks);
      const ctx = sampleContext(ubuntu, { serverUrl: server.url, syslog: undefined });
      const section = autoinstallSection(ctx);
      const ai = join(d, "autoinstall.yaml");
      await writeFile(ai, stringify(section));
      const lib = join(d, "lab-install.sh");
      const early = (section["early-commands"] as string[]).map((cmd) =>
        cmd
          .replaceAll("/tmp/lab-install.sh", lib)
          .replaceAll("/autoinstall.yaml", ai)
          .replaceAll("lab_watch_target /target", ":"),
      );
      server.progress.length = 0;
      let code = 0;
      for (const cmd of early) {
        const r = await runSh("dash", cmd, { LAB_SYSFS: sys, LAB_STAGE_FILE: join(d, "stage") });
        expect(r.stderr).toBe("");
        code = r.code;
        if (code !== 0) break;
      }
      const after = parse(await readFile(ai, "utf8"));
      if (c.pick) {
        expect(code).toBe(0);
        expect(after.storage.layout.match.path).toBe(`/dev/${c.pick}`);
        expect(server.progress.map((p) => `${p.stage} ${p.status}`)).toEqual([
          "booted ok",
          "partitioning running",
        ]);
        // Only the placeholder changed: the rest of the config is as rendered.
        expect({ ...after, storage: undefined }).toEqual({
          ...parse(stringify(section)),
          storage: undefined,
        });
      } else {
        expect(code).not.toBe(0);
        expect(after.storage.layout.match.path).toBe(DISK_PLACEHOLDER);
        expect(server.progress.at(-1)).toMatchObject({ stage: "partitioning", status: "failed" });
      }
    });
  }

  it("late and error commands parse as sh", async () => {
    const section = autoinstallSection(
      sampleContext(ubuntu, { console: "ttyS0", agentInstallUrl: "http://10.0.0.1/a.sh" }),
    );
    for (const cmd of [
      ...(section["late-commands"] as string[]),
      ...(section["error-commands"] as string[]),
    ]) {
      const r = await runSh("dash", `set -n\n${cmd}`);
      expect({ cmd, code: r.code, err: r.stderr }).toEqual({ cmd, code: 0, err: "" });
    }
  });
});
