/**
 * iPXE scripts: a lexer check modelled on iPXE's own command-line splitter (core/exec.c:
 * whitespace-split tokens, `#` starts a comment, lone `;` `&&` `||` separate commands, `${…}`
 * expands settings), per-format kernel arguments, refusal of unsafe values, and a real run:
 * Debian's iPXE ROM in QEMU (BIOS, user-mode network to a local HTTP server) executing the
 * chain, a failing discover boot and an install boot whose kernel prints the command line it got.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { afterAll, describe, expect, it } from "vitest";
import { ensureBootImage } from "../../../test/support/boot-image.js";
import { SAMPLE_IMAGES, sampleContext } from "./install/testing.js";
import type { ImageSpec, InstallContext } from "./install/types.js";
import {
  bootScript,
  debugScript,
  discoverScript,
  errorScript,
  installKernelArgs,
  installScript,
  localBootScript,
} from "./ipxe.js";

const COMMANDS = new Set([
  "echo",
  "imgfree",
  "kernel",
  "initrd",
  "boot",
  "chain",
  "sleep",
  "exit",
  "goto",
  "set",
  "inc",
  "iseq",
  "sanboot",
]);
const SETTINGS = new Set(["net0/mac", "buildarch", "platform", "lab_tries"]);

/** Problems iPXE would have with a script (see the file comment). */
function lex(script: string): string[] {
  const problems: string[] = [];
  const lines = script.split("\n");
  if (lines[0] !== "#!ipxe") problems.push("does not start with #!ipxe");
  const labels = new Set(lines.filter((l) => l.startsWith(":")).map((l) => l.slice(1)));
  lines.slice(1).forEach((line, i) => {
    const where = `line ${i + 2} ${JSON.stringify(line)}`;
    if (line.trim() === "") return;
    if (line.startsWith(":")) {
      if (!/^:[a-z_]+$/.test(line)) problems.push(`${where}: bad label`);
      return;
    }
    const tokens = line.split(/\s+/).filter(Boolean);
    let expectCommand = true;
    for (const t of tokens) {
      if (t.startsWith("#")) problems.push(`${where}: token ${t} starts a comment`);
      if (t === ";") problems.push(`${where}: lone ; separator`);
      if (t === "&&" || t === "||") {
        expectCommand = true;
        continue;
      }
      for (const m of t.matchAll(/\$\{([^}]*)\}/g))
        if (!SETTINGS.has(m[1] as string)) problems.push(`${where}: expands \${${m[1]}}`);
      if (/\$(?!\{)/.test(t)) problems.push(`${where}: stray $ in ${t}`);
      if (expectCommand) {
        if (!COMMANDS.has(t)) problems.push(`${where}: unknown command ${t}`);
        expectCommand = false;
      }
    }
    const gotoTarget = /goto (\S+)/.exec(line)?.[1];
    if (gotoTarget && !labels.has(gotoTarget))
      problems.push(`${where}: goto to a missing label ${gotoTarget}`);
  });
  return problems;
}

function marker(script: string): string {
  return script.split("\n")[1] ?? "";
}

const SERVER = "http://10.0.0.1:8080";
const TOKEN = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycA";
const discovery = SAMPLE_IMAGES.discovery as ImageSpec;

describe("scripts", () => {
  const ALL: { name: string; script: () => string; marker: string }[] = [
    { name: "boot", script: () => bootScript(SERVER), marker: "echo lab: chain to dispatch" },
    {
      name: "discover",
      script: () =>
        discoverScript({
          serverUrl: SERVER,
          mac: "52:54:00:12:34:56",
          discoveryToken: TOKEN,
          image: discovery,
        }),
      marker: "echo lab: discover 52:54:00:12:34:56",
    },
    ...Object.values(SAMPLE_IMAGES)
      .filter((img) => img.format !== "none")
      .map((img) => ({
        name: `install ${img.format}`,
        script: () => installScript(sampleContext(img, { console: "ttyS0,115200" })),
        marker: `echo lab: install ${img.name} for web-1`,
      })),
    {
      name: "install none (Lab's test installer)",
      script: () => installScript(sampleContext(discovery)),
      marker: "echo lab: install lab-discovery for web-1",
    },
    ...Object.values(SAMPLE_IMAGES).map((img) => ({
      name: `debug ${img.format}`,
      script: () =>
        debugScript({
          serverUrl: SERVER,
          mac: "52:54:00:12:34:56",
          hostname: "web-1",
          image: img,
          installToken: TOKEN,
        }),
      marker: `echo lab: debug ${img.name} for web-1`,
    })),
    { name: "local boot efi", script: () => localBootScript("efi"), marker: "echo lab: local boot (efi)" },
    {
      name: "local boot bios",
      script: () => localBootScript("pcbios"),
      marker: "echo lab: local boot (bios)",
    },
    {
      name: "error",
      script: () => errorScript("no image for web-1"),
      marker: "echo lab: error no image for web-1",
    },
  ];
  for (const s of ALL) {
    it(`${s.name}: starts with #!ipxe, says what Lab decided, lexes cleanly`, () => {
      const script = s.script();
      expect(marker(script)).toBe(s.marker);
      expect(lex(script)).toEqual([]);
    });
  }

  it("the lexer catches what iPXE would misread", () => {
    expect(lex("#!ipxe\necho a ; reboot\n")).not.toEqual([]);
    expect(lex("#!ipxe\nkernel x #comment\n")).not.toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
    expect(lex("#!ipxe\necho ${foo}\n")).not.toEqual([]);
    expect(lex("#!ipxe\ngoto nowhere\n")).not.toEqual([]);
    expect(lex("#!ipxe\nfrob\n")).not.toEqual([]);
  });

  it("chains to the contract's dispatch URL", () => {
    expect(bootScript("http://10.0.0.1:8080/")).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
      "chain --autofree http://10.0.0.1:8080/pxe/v1/dispatch?mac=${net0/mac}&arch=${buildarch}&platform=${platform} || goto dispatch_failed",
    );
  });

  it("names each initrd and passes initrd=<name> for EFI kernels", () => {
    const s = discoverScript({
      serverUrl: SERVER,
      mac: "52:54:00:12:34:56",
      discoveryToken: TOKEN,
      image: discovery,
    });
    expect(s).toContain(
      `kernel ${SERVER}/pxe/v1/images/lab-discovery/vmlinuz initrd=initrd0 initrd=initrd1 lab.server=${SERVER}`,
    );
    expect(s).toContain(
      `initrd --name initrd0 ${SERVER}/pxe/v1/images/lab-discovery/initrd.gz || goto failed`,
    );
    expect(s).toContain(
      `initrd --name initrd1 ${SERVER}/pxe/v1/images/lab-discovery/lab-tools.cpio.gz || goto failed`,
    );
  });

  it("local boot: sanboot on BIOS, exit on EFI; anything else refused", () => {
    expect(localBootScript("bios")).toContain("sanboot --no-describe --drive 0x80 || goto failed");
    expect(localBootScript("efi").split("\n")).toContain("exit");
    expect(() => localBootScript("uefi-arm" as never)).toThrow(/firmware/);
  });

  it("error messages are made harmless, not refused", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
    const s = errorScript("bad ${net0/mac} ; reboot && shell || x #c\nsecond line");
    expect(lex(s)).toEqual([]);
    expect(s).toContain("sleep 30\nexit");
    expect(marker(s)).toBe("echo lab: error bad ??net0/mac? ? reboot ?? shell ?? x ?c second line");
  });
});

describe("install kernel arguments", () => {
  const CASES: {
    img: keyof typeof SAMPLE_IMAGES;
    over?: Partial<InstallContext>;
    want: string[];
    not?: string[];
  }[] = [
    {
      img: "ubuntu",
      want: [
        "ip=dhcp",
        "url=https://releases.ubuntu.com/24.04/ubuntu-24.04.3-live-server-amd64.iso",
        "cloud-config-url=/dev/null",
        "autoinstall",
        `ds=nocloud-net;s=http://10.0.0.1:8080/pxe/v1/machines/52:54:00:12:34:56/${TOKEN}/`,
      ],
      not: ["console=ttyS0"],
    },
    {
      img: "rocky",
      over: { console: "ttyS0,115200" },
      want: [
        `inst.ks=http://10.0.0.1:8080/pxe/v1/machines/52:54:00:12:34:56/${TOKEN}/ks.cfg`,
        "inst.repo=https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/",
        "inst.syslog=10.0.0.1:5514",
        "console=tty0",
        "console=ttyS0,115200",
      ],
    },
    {
      img: "debian",
      want: [
        "auto=true",
        "priority=critical",
        `url=http://10.0.0.1:8080/pxe/v1/machines/52:54:00:12:34:56/${TOKEN}/preseed.cfg`,
        "hostname=web-1",
        "domain=lab.internal",
        "log-host=10.0.0.1",
        "log-port=5514",
      ],
    },
    {
      img: "talos",
      want: [
        "talos.platform=metal",
        "init_on_alloc=1",
        "slab_nomerge",
        "pti=on",
        `talos.config=http://10.0.0.1:8080/pxe/v1/machines/52:54:00:12:34:56/${TOKEN}/talos.yaml`,
      ],
    },
    {
      img: "discovery",
      want: [
        "lab.server=http://10.0.0.1:8080",
        "lab.mac=52:54:00:12:34:56",
        `lab.token=${TOKEN}`,
        "lab.mode=install",
        "lab.syslog=10.0.0.1:5514",
        "quiet",
      ],
      not: ["console=ttyS0"],
    },
  ];
  for (const c of CASES) {
    it(`${c.img}`, () => {
      const args = installKernelArgs(sampleContext(SAMPLE_IMAGES[c.img] as ImageSpec, c.over));
      for (const w of c.want) expect(args).toContain(w);
      for (const w of c.not ?? []) expect(args.join(" ")).not.toContain(w);
    });
  }

  it("talos push mode boots without a config URL", () => {
    const img = { ...SAMPLE_IMAGES.talos, talos: { mode: "push" } } as ImageSpec;
    expect(installKernelArgs(sampleContext(img)).join(" ")).not.toContain("talos.config=");
  });

  it("refuses unsafe values with LAB_E_INSTALL_BAD_VALUE", () => {
    const bad: (() => unknown)[] = [
      () => installScript(sampleContext(SAMPLE_IMAGES.ubuntu as ImageSpec, { hostname: "x y" })),
      () => installScript(sampleContext({ ...(SAMPLE_IMAGES.ubuntu as ImageSpec), cmdline: "a ; b" })),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
      () => installScript(sampleContext({ ...(SAMPLE_IMAGES.ubuntu as ImageSpec), kernel: "http://x/${y}" })),
      () =>
        discoverScript({
          serverUrl: "http://a b",
          mac: "52:54:00:12:34:56",
          discoveryToken: TOKEN,
          image: discovery,
        }),
      () =>
        discoverScript({
          serverUrl: SERVER,
          mac: "52:54:00:12:34:56",
          discoveryToken: "x;y",
          image: discovery,
        }),
      () => debugScript({ serverUrl: SERVER, mac: "zz", image: discovery }),
      () =>
        debugScript({ serverUrl: SERVER, mac: "52:54:00:12:34:56", image: discovery, console: "ttyS0 x" }),
    ];
    for (const f of bad) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isLabError(err) && err.code).toBe("LAB_E_INSTALL_BAD_VALUE");
    }
  });
});

describe("Debian's iPXE runs the scripts (QEMU, BIOS)", () => {
  const QEMU = "/usr/bin/qemu-system-x86_64";
  let server: Server | undefined;
  let qemu: ChildProcess | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    if (qemu && qemu.exitCode === null) qemu.kill("SIGKILL");
    if (server) await new Promise<void>((r) => server?.close(() => r()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("chains, retries a failed dispatch, falls back after a failed boot, boots an install kernel with its arguments intact", async () => {
    if (!existsSync(QEMU)) throw new Error("QEMU is missing: apt-get install -y qemu-system-x86 ipxe-qemu");
    const image = await ensureBootImage();
    dir = await mkdtemp(join(tmpdir(), "ldc-ipxe-"));
    const serial = join(dir, "serial.log");
    const mac = "52:54:00:12:34:56";
    const requests: string[] = [];
    const dispatchQueries: URLSearchParams[] = [];
    let base = "";
    const ubuntu: ImageSpec = {
      ...(SAMPLE_IMAGES.ubuntu as ImageSpec),
      kernel: "vmlinuz",
      initrd: ["initrd.gz"],
    };
    const answers = [
      () => ({ status: 500, body: "down" }),
      () => ({
        status: 200,
        body: discoverScript({
          serverUrl: base,
          mac,
          discoveryToken: TOKEN,
          image: { ...discovery, kernel: "missing-vmlinuz" },
        }),
      }),
      () => ({
        status: 200,
        body: installScript(
          sampleContext(
            { ...ubuntu, repo: `${base}/ubuntu.iso` },
            { serverUrl: base, console: "ttyS0,115200" },
          ),
        ),
      }),
    ];
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      requests.push(url.pathname);
      if (url.pathname === "/boot.ipxe") return void res.end(bootScript(base));
      if (url.pathname === "/pxe/v1/dispatch") {
        dispatchQueries.push(url.searchParams);
        const next = answers[Math.min(dispatchQueries.length - 1, answers.length - 1)] as () => {
          status: number;
          body: string;
        };
        const { status, body } = next();
        return void res.writeHead(status).end(body);
      }
      const files: Record<string, string> = {
        "/pxe/v1/images/ubuntu-24.04/vmlinuz": image.kernel,
        "/pxe/v1/images/ubuntu-24.04/initrd.gz": image.initrd,
      };
      const file = files[url.pathname];
      if (file) return void res.end(await readFile(file));
      res.writeHead(404).end("not found");
    });
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as AddressInfo).port;
    // QEMU's user-mode network reaches the host's loopback as 10.0.2.2.
    base = `http://10.0.2.2:${port}`;
    qemu = spawn(
      QEMU,
      [
        "-accel",
        "tcg",
        "-smp",
        "1",
        "-m",
        "512",
        "-nographic",
        "-vga",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-serial",
        `file:${serial}`,
        "-netdev",
        `user,id=n0,bootfile=${base}/boot.ipxe`,
        "-device",
        `e1000,netdev=n0,mac=${mac},bootindex=1`,
        "-boot",
        "n",
      ],
      { stdio: "ignore" },
    );
    const want = /Command line: .*autoinstall/;
    const deadline = Date.now() + 240_000;
    let text = "";
    while (!want.test(text)) {
      if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode}):\n${text.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`no kernel command line on the serial console:\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
      text = await readFile(serial, "utf8").catch(() => "");
    }
    qemu.kill("SIGKILL");

    for (const m of [
      "lab: chain to dispatch",
      "lab: dispatch unreachable, retrying in 10 seconds",
      `lab: discover ${mac}`,
      "lab: boot failed, asking Lab again in 10 seconds",
      "lab: install ubuntu-24.04 for web-1",
    ]) {
      expect(text).toContain(m);
    }
    const cmdline = (/Command line: (.*)/.exec(text)?.[1] ?? "").trim();
    expect(cmdline).toBe(
      [
        "initrd=initrd0",
        "ip=dhcp",
        `url=${base}/ubuntu.iso`,
        "cloud-config-url=/dev/null",
        "autoinstall",
        `ds=nocloud-net;s=${base}/pxe/v1/machines/${mac}/${TOKEN}/`,
        "console=tty0",
        "console=ttyS0,115200",
      ].join(" "),
    );
    expect(dispatchQueries.length).toBe(3);
    for (const q of dispatchQueries) {
      expect(q.get("mac")).toBe(mac);
      expect(q.get("platform")).toBe("pcbios");
      expect(["i386", "x86_64"]).toContain(q.get("arch"));
    }
    expect(requests).toEqual([
      "/boot.ipxe",
      "/pxe/v1/dispatch",
      "/pxe/v1/dispatch",
      "/pxe/v1/images/lab-discovery/missing-vmlinuz",
      "/pxe/v1/dispatch",
      "/pxe/v1/images/ubuntu-24.04/vmlinuz",
      "/pxe/v1/images/ubuntu-24.04/initrd.gz",
    ]);
  }, 300_000);
});
