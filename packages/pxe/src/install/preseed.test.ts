/**
 * preseed.cfg checked with Debian's own `debconf-set-selections --checkonly` (any warning
 * fails), then its hook commands run in busybox ash with only busybox applets on PATH, as in
 * debian-installer.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debianMirror, renderPreseed } from "./preseed.js";
import { shellLibrary } from "./shell.js";
import { CONTEXT_VARIANTS, SAMPLE_IMAGES, sampleContext } from "./testing.js";
import { busyboxBin, DISKS, fakeSysfs, type ProgressServer, progressServer, runSh } from "./testing-sh.js";
import { checkInstallContext } from "./validate.js";

const debian = SAMPLE_IMAGES.debian as never;

function checkonly(file: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile("debconf-set-selections", ["--checkonly", file], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
        return reject(new Error("debconf-set-selections is missing: apt-get install -y debconf"));
      resolve({ code: err ? Number(err.code) || 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** question -> value, from `d-i question type value` lines. */
function answers(text: string): Map<string, { type: string; value: string }> {
  const m = new Map<string, { type: string; value: string }>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const match = /^(\S+)\s+(\S+)\s+(\S+)(?:\s(.*))?$/.exec(line);
    if (!match) throw new Error(`unparseable preseed line: ${line}`);
    m.set(match[2] as string, { type: match[3] as string, value: match[4] ?? "" });
  }
  return m;
}

let dir: string;
let bb: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ldc-preseed-"));
  bb = await busyboxBin(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the checker itself", () => {
  it("debconf-set-selections --checkonly reports a malformed line", async () => {
    const f = join(dir, "bad.cfg");
    await writeFile(f, "d-i foo\nd-i bar/baz strin x\n");
    expect((await checkonly(f)).out).not.toBe("");
  });
});

describe("renderPreseed", () => {
  let k = 0;
  for (const v of CONTEXT_VARIANTS) {
    it(`passes debconf-set-selections --checkonly: ${v.name}`, async () => {
      const ctx = sampleContext(debian, v.over);
      const text = renderPreseed(ctx);
      const f = join(dir, `p-${k++}.cfg`);
      await writeFile(f, text);
      expect(await checkonly(f)).toEqual({ code: 0, out: "" });
      const a = answers(text);
      expect(a.get("netcfg/get_hostname")?.value).toBe("web-1");
      expect(a.get("passwd/root-password-crypted")).toEqual({ type: "password", value: "!" });
      expect(a.get("partman-auto/method")?.value).toBe("lvm");
      expect(a.has("partman-auto/disk")).toBe(false); // chosen at install time
      expect(a.has("debian-installer/add-kernel-opts")).toBe(ctx.console !== undefined);
      expect(a.get("preseed/late_command")?.value.includes("lab_write_join_token /target")).toBe(true);
      for (const q of ["preseed/early_command", "partman/early_command", "preseed/late_command"]) {
        const r = await runSh("busybox", `set -n\n${a.get(q)?.value}`, {}, { busyboxBin: bb });
        expect({ q, code: r.code, err: r.stderr }).toEqual({ q, code: 0, err: "" });
      }
    });
  }

  it("uses the image's mirror", () => {
    expect(debianMirror("deb.debian.org")).toEqual({
      protocol: "http",
      host: "deb.debian.org",
      directory: "/debian",
    });
    expect(debianMirror("https://mirror.example.org/debian/")).toEqual({
      protocol: "https",
      host: "mirror.example.org",
      directory: "/debian",
    });
    const a = answers(
      renderPreseed(sampleContext({ ...SAMPLE_IMAGES.debian, repo: "http://10.0.0.1:3142/debian" } as never)),
    );
    expect(a.get("mirror/http/hostname")?.value).toBe("10.0.0.1:3142");
  });

  it("refuses to keep volumes on reprovision (kickstart only)", () => {
    let err: unknown;
    try {
      renderPreseed(sampleContext(debian, { reprovision: true, preserve: ["/srv"] }));
    } catch (e) {
      err = e;
    }
    expect(isLabError(err) && err.code).toBe("LAB_E_INSTALL_UNSUPPORTED");
  });
});

describe("the hooks, run in busybox ash", () => {
  let server: ProgressServer;
  beforeAll(async () => {
    server = await progressServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it("early_command writes the helper library byte for byte", async () => {
    const ctx = sampleContext(debian, { serverUrl: server.url });
    const a = answers(renderPreseed(ctx));
    const lib = join(dir, "lab-install.sh");
    const cmd = (a.get("preseed/early_command")?.value ?? "").replaceAll("/tmp/lab-install.sh", lib);
    server.progress.length = 0;
    const r = await runSh("busybox", cmd, { LAB_STAGE_FILE: join(dir, "stage") }, { busyboxBin: bb });
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect(await readFile(lib, "utf8")).toBe(
      shellLibrary(checkInstallContext(ctx), { target: "/target", runner: "d-i" }),
    );
    expect(server.progress).toEqual([
      { mac: "52:54:00:12:34:56", stage: "booted", status: "ok", message: "debian-installer started" },
    ]);
  });

  it("partman/early_command hands the chosen disk to partman and grub", async () => {
    const ctx = sampleContext(debian, { serverUrl: server.url });
    const a = answers(renderPreseed(ctx));
    const d = join(dir, "partman");
    const sys = await fakeSysfs(d, [DISKS.usbSsd, DISKS.sata, DISKS.nvme]);
    const stubs = join(d, "stubs");
    await mkdir(stubs);
    const record = join(d, "debconf");
    await writeFile(join(stubs, "debconf-set"), `#!/bin/sh\necho "$1 $2" >>${record}\n`);
    await chmod(join(stubs, "debconf-set"), 0o755);
    const lib = join(d, "lab-install.sh");
    const early = (a.get("preseed/early_command")?.value ?? "").replaceAll("/tmp/lab-install.sh", lib);
    const partman = (a.get("partman/early_command")?.value ?? "")
      .replaceAll("/tmp/lab-install.sh", lib)
      .replace("lab_watch_target /target", ":");
    const env = { LAB_SYSFS: sys, LAB_STAGE_FILE: join(d, "stage"), PATH_PREFIX: stubs };
    server.progress.length = 0;
    expect((await runSh("busybox", early, env, { busyboxBin: bb })).code).toBe(0);
    const r = await runSh("busybox", partman, env, { busyboxBin: bb });
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect((await readFile(record, "utf8")).trim().split("\n")).toEqual([
      "partman-auto/disk /dev/nvme0n1",
      "grub-installer/bootdev /dev/nvme0n1",
    ]);
    expect(server.progress.at(-1)).toMatchObject({
      stage: "partitioning",
      status: "running",
      message: "installing to nvme0n1",
    });
  });
});
