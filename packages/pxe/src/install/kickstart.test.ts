/**
 * ks.cfg checked against the kickstart grammar: a small parser (commands with options, the
 * %pre/%pre-install/%post/%onerror/%packages sections ending in %end) and a table of the
 * commands and options the kickstart reference documents (pykickstart / RHEL 10 "Kickstart
 * commands and options reference"). Unknown commands or options fail. The %pre script is then
 * run for real (dash, fake /sys, fake lvm and lsblk) and the storage commands it writes for
 * %include are checked the same way.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderKickstart } from "./kickstart.js";
import { CONTEXT_VARIANTS, REPROVISION_KEEP, SAMPLE_IMAGES, sampleContext } from "./testing.js";
import { DISKS, type FakeDisk, fakeSysfs, type ProgressServer, progressServer, runSh } from "./testing-sh.js";
import type { InstallContext } from "./types.js";

interface CommandGrammar {
  /** Options that take a value (--opt=value or --opt value). */
  valued?: string[];
  /** Options that are flags. */
  flags?: string[];
  /** Positional arguments: [min, max]. */
  args: [number, number];
  /** Options that must be present (any of each inner list). */
  required?: string[][];
}

// From the kickstart reference (pykickstart docs; RHEL 10 "Kickstart commands and options").
const COMMANDS: Record<string, CommandGrammar> = {
  text: { flags: ["--non-interactive"], args: [0, 0] },
  graphical: { flags: ["--non-interactive"], args: [0, 0] },
  url: { valued: ["--url", "--mirrorlist", "--metalink", "--proxy"], flags: ["--noverifyssl"], args: [0, 0] },
  lang: { valued: ["--addsupport"], args: [1, 1] },
  keyboard: { valued: ["--vckeymap", "--xlayouts", "--switch"], args: [0, 1] },
  timezone: { valued: ["--ntpservers"], flags: ["--utc", "--isUtc", "--nontp"], args: [1, 1] },
  network: {
    valued: [
      "--bootproto",
      "--device",
      "--ip",
      "--ipv6",
      "--gateway",
      "--ipv6gateway",
      "--nameserver",
      "--netmask",
      "--hostname",
      "--mtu",
      "--ethtool",
      "--essid",
      "--wepkey",
      "--wpakey",
      "--vlanid",
      "--interfacename",
      "--bondslaves",
      "--bondopts",
      "--bridgeslaves",
      "--bridgeopts",
      "--teamslaves",
      "--teamconfig",
      "--bindto",
      "--onboot",
      "--dhcpclass",
    ],
    flags: ["--activate", "--no-activate", "--nodefroute", "--noipv4", "--noipv6", "--nodns"],
    args: [0, 0],
  },
  rootpw: { flags: ["--iscrypted", "--plaintext", "--lock", "--allow-ssh"], args: [0, 1] },
  user: {
    valued: ["--name", "--groups", "--homedir", "--password", "--shell", "--uid", "--gid", "--gecos"],
    flags: ["--iscrypted", "--plaintext", "--lock"],
    args: [0, 0],
    required: [["--name"]],
  },
  sshkey: { valued: ["--username"], args: [1, 1], required: [["--username"]] },
  logging: { valued: ["--host", "--port", "--level"], args: [0, 0] },
  selinux: { flags: ["--enforcing", "--permissive", "--disabled"], args: [0, 0] },
  firewall: {
    valued: ["--service", "--port", "--trust", "--remove-service"],
    flags: ["--enabled", "--enable", "--disabled", "--disable", "--ssh", "--use-system-defaults"],
    args: [0, 0],
  },
  services: { valued: ["--enabled", "--disabled"], args: [0, 0] },
  firstboot: { flags: ["--enable", "--enabled", "--disable", "--disabled", "--reconfig"], args: [0, 0] },
  skipx: { args: [0, 0] },
  reboot: { flags: ["--eject", "--kexec"], args: [0, 0] },
  poweroff: { flags: ["--eject", "--kexec"], args: [0, 0] },
  ignoredisk: { valued: ["--only-use", "--drives"], flags: ["--interactive"], args: [0, 0] },
  zerombr: { args: [0, 0] },
  clearpart: {
    valued: ["--drives", "--list", "--disklabel"],
    flags: ["--all", "--initlabel", "--none", "--linux", "--cdl"],
    args: [0, 0],
  },
  reqpart: { flags: ["--add-boot"], args: [0, 0] },
  part: {
    valued: [
      "--size",
      "--maxsize",
      "--onpart",
      "--usepart",
      "--ondisk",
      "--ondrive",
      "--fstype",
      "--fsoptions",
      "--fsprofile",
      "--label",
      "--mkfsoptions",
      "--passphrase",
      "--cipher",
    ],
    flags: [
      "--grow",
      "--noformat",
      "--asprimary",
      "--recommended",
      "--hibernation",
      "--encrypted",
      "--resize",
    ],
    args: [1, 1],
    required: [["--size", "--onpart", "--usepart", "--recommended"]],
  },
  volgroup: {
    valued: ["--pesize", "--reserved-space", "--reserved-percent"],
    flags: ["--noformat", "--useexisting"],
    args: [1, 64],
  },
  logvol: {
    valued: [
      "--vgname",
      "--name",
      "--size",
      "--maxsize",
      "--percent",
      "--fstype",
      "--fsoptions",
      "--fsprofile",
      "--label",
      "--mkfsoptions",
      "--passphrase",
      "--poolname",
      "--chunksize",
      "--metadatasize",
    ],
    flags: [
      "--grow",
      "--noformat",
      "--useexisting",
      "--recommended",
      "--hibernation",
      "--resize",
      "--encrypted",
      "--thinpool",
      "--thin",
    ],
    args: [1, 1],
    required: [["--vgname"], ["--name"]],
  },
  bootloader: {
    valued: ["--append", "--boot-drive", "--driveorder", "--location", "--timeout", "--password"],
    flags: ["--iscrypted", "--leavebootorder", "--nombr", "--md5pass"],
    args: [0, 0],
  },
  "%include": { args: [1, 1] },
};

const SECTIONS: Record<string, { valued?: string[]; flags?: string[] }> = {
  "%pre": { valued: ["--interpreter", "--log"], flags: ["--erroronfail"] },
  "%pre-install": { valued: ["--interpreter", "--log"], flags: ["--erroronfail"] },
  "%post": { valued: ["--interpreter", "--log"], flags: ["--erroronfail", "--nochroot"] },
  "%onerror": { valued: ["--interpreter", "--log"], flags: ["--erroronfail"] },
  "%packages": {
    valued: ["--inst-langs", "--multilib", "--retries", "--timeout"],
    flags: ["--default", "--excludedocs", "--ignoremissing", "--nocore", "--exclude-weakdeps"],
  },
};

/** Splits a kickstart line like pykickstart (shlex): whitespace, with double/single quotes. */
function splitWords(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${line}`);
  if (has || cur) out.push(cur);
  return out;
}

interface Parsed {
  commands: { name: string; words: string[]; line: number }[];
  sections: { header: string; options: string[]; body: string[] }[];
}

function parseKickstart(text: string): Parsed {
  const parsed: Parsed = { commands: [], sections: [] };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = splitWords(line);
    const name = words[0] as string;
    if (name.startsWith("%") && name !== "%include") {
      if (!(name in SECTIONS)) throw new Error(`line ${i + 1}: unknown section ${name}`);
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && lines[j]?.trim() !== "%end"; j++) body.push(lines[j] ?? "");
      if (j >= lines.length) throw new Error(`line ${i + 1}: ${name} has no %end`);
      parsed.sections.push({ header: name, options: words.slice(1), body });
      i = j;
      continue;
    }
    if (name === "%end") throw new Error(`line ${i + 1}: %end without a section`);
    parsed.commands.push({ name, words: words.slice(1), line: i + 1 });
  }
  return parsed;
}

/** Checks options against a grammar entry; returns the problems found. */
function checkOptions(
  where: string,
  words: string[],
  g: { valued?: string[]; flags?: string[] },
): { problems: string[]; args: string[]; opts: Set<string> } {
  const problems: string[] = [];
  const args: string[] = [];
  const opts = new Set<string>();
  for (let k = 0; k < words.length; k++) {
    const w = words[k] as string;
    if (!w.startsWith("--")) {
      args.push(w);
      continue;
    }
    const eq = w.indexOf("=");
    const opt = eq === -1 ? w : w.slice(0, eq);
    opts.add(opt);
    if (g.valued?.includes(opt)) {
      if (eq === -1) {
        const next = words[k + 1];
        if (next === undefined || next.startsWith("--")) problems.push(`${where}: ${opt} needs a value`);
        else k++;
      } else if (w.slice(eq + 1) === "") problems.push(`${where}: ${opt} has an empty value`);
    } else if (g.flags?.includes(opt)) {
      if (eq !== -1) problems.push(`${where}: ${opt} takes no value`);
    } else {
      problems.push(`${where}: unknown option ${opt}`);
    }
  }
  return { problems, args, opts };
}

function validate(text: string): string[] {
  const problems: string[] = [];
  let parsed: Parsed;
  try {
    parsed = parseKickstart(text);
  } catch (e) {
    return [(e as Error).message];
  }
  for (const c of parsed.commands) {
    const g = COMMANDS[c.name === "partition" ? "part" : c.name];
    if (!g) {
      problems.push(`line ${c.line}: unknown command ${c.name}`);
      continue;
    }
    const r = checkOptions(`line ${c.line} ${c.name}`, c.words, g);
    problems.push(...r.problems);
    if (r.args.length < g.args[0] || r.args.length > g.args[1])
      problems.push(`line ${c.line} ${c.name}: ${r.args.length} arguments, expected ${g.args.join("-")}`);
    for (const any of g.required ?? []) {
      if (!any.some((o) => r.opts.has(o)))
        problems.push(`line ${c.line} ${c.name}: needs ${any.join(" or ")}`);
    }
  }
  for (const s of parsed.sections) {
    problems.push(...checkOptions(s.header, s.options, SECTIONS[s.header] ?? {}).problems);
  }
  return problems;
}

function sectionBody(ks: string, header: string): string {
  const parsed = parseKickstart(ks);
  const s = parsed.sections.find((x) => `${x.header} ${x.options.join(" ")}`.startsWith(header));
  if (!s) throw new Error(`no section ${header}`);
  return s.body.join("\n");
}

describe("the kickstart grammar checker", () => {
  const BAD: [string, string][] = [
    ["unknown command", "frobnicate --all\n"],
    ["unknown option", "part /boot --size=1 --sparkles\n"],
    ["flag given a value", "clearpart --all=yes\n"],
    ["valued option without value", "logvol / --vgname --name=root --size=1\n"],
    ["missing required option", "logvol / --name=root --size=1\n"],
    ["section without %end", "%post\necho hi\n"],
    ["unknown section option", "%post --chroot\n%end\n"],
    ["too many arguments", "lang en_US de_DE\n"],
  ];
  for (const [name, text] of BAD) {
    it(`rejects: ${name}`, () => {
      expect(validate(text).length).toBeGreaterThan(0);
    });
  }
  it("accepts a documented example", () => {
    expect(
      validate(
        'part pv.01 --size 10000\nvolgroup my_volgrp pv.01\nlogvol / --vgname=my_volgrp --size=2000 --name=root\nbootloader --append="a b"\n',
      ),
    ).toEqual([]);
  });
});

describe("renderKickstart", () => {
  const rocky = SAMPLE_IMAGES.rocky as never;
  const variants = [
    ...CONTEXT_VARIANTS,
    { name: "reprovision keeping /home /srv longhorn", over: REPROVISION_KEEP },
  ];
  for (const v of variants) {
    it(`is valid kickstart: ${v.name}`, async () => {
      const ks = renderKickstart(sampleContext(rocky, v.over));
      expect(validate(ks)).toEqual([]);
      // Every script section parses as sh.
      for (const s of parseKickstart(ks).sections.filter((x) => x.header !== "%packages")) {
        const r = await runSh("dash", `set -n\n${s.body.join("\n")}`);
        expect({ section: s.header, code: r.code, err: r.stderr }).toEqual({
          section: s.header,
          code: 0,
          err: "",
        });
      }
      const ctx = sampleContext(rocky, v.over);
      expect(ks).toContain(`network --bootproto=dhcp --hostname=web-1.lab.internal --activate`);
      expect(ks.includes("logging --host=10.0.0.1 --port=5514")).toBe(ctx.syslog !== undefined);
      expect(ks.includes("/etc/lab/join-token")).toBe(ctx.joinToken !== undefined);
      expect(ks.includes("console=ttyS0")).toBe(ctx.console !== undefined);
      expect(ks).toContain("rootpw --lock");
      expect(ks).toContain("PasswordAuthentication no");
      expect(ks).toContain("lab_efi_network_first");
      expect(ks).toContain(`sshkey --username=${ctx.adminUser ?? "lab"} "ssh-ed25519 `);
    });
  }

  it("refuses unsafe values before rendering", () => {
    const cases: Partial<InstallContext>[] = [
      { hostname: "web-1;reboot" },
      {
        sshAuthorizedKeys: [
          'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMqxJFpSTcQdLa0G08bPtJcxFfzM7uAo8Bf7C7PLRRG x"; rm -rf /',
        ],
      },
      { preserve: ["/"] },
      { preserve: ["/home/../etc"] },
      { disk: "/dev/sda; reboot" },
      { syslog: { host: "10.0.0.1 --port=1", port: 514 } },
    ];
    for (const over of cases) {
      let err: unknown;
      try {
        renderKickstart(sampleContext(rocky, over));
      } catch (e) {
        err = e;
      }
      expect(isLabError(err) && err.code, JSON.stringify(over)).toBe("LAB_E_INSTALL_BAD_VALUE");
    }
  });
});

describe("the %pre script, run against fake disks", () => {
  let root: string;
  let server: ProgressServer;
  let stubs: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "ldc-ks-"));
    server = await progressServer();
    stubs = join(root, "stubs");
    await mkdir(stubs);
    // lvm: FAKE_VG set = labvg exists; FAKE_LVS = its LVs; FAKE_PVS = pvs output; FAKE_FREE MiB.
    await writeFile(
      join(stubs, "lvm"),
      `#!/bin/sh
case "$1" in
  vgs) [ -n "$FAKE_VG" ] || exit 5
       case " $* " in *vg_free*) echo "  \${FAKE_FREE:-0}.00" ;; esac
       exit 0 ;;
  pvs) printf '%s\\n' "$FAKE_PVS" ; exit 0 ;;
  lvs) name=\${2#*/}
       case " $FAKE_LVS " in *" $name "*) exit 0 ;; esac
       exit 5 ;;
esac
exit 3
`,
    );
    await writeFile(join(stubs, "lsblk"), `#!/bin/sh\nprintf '%s\\n' "$FAKE_LSBLK"\n`);
    await chmod(join(stubs, "lvm"), 0o755);
    await chmod(join(stubs, "lsblk"), 0o755);
  });
  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  const EXISTING = "swap root var var_log home srv";
  const NVME_PARTS = [
    'NAME="/dev/nvme0n1" PARTTYPE="" LABEL=""',
    'NAME="/dev/nvme0n1p1" PARTTYPE="c12a7328-f81f-11d2-ba4b-00a0c93ec93b" LABEL=""',
    'NAME="/dev/nvme0n1p2" PARTTYPE="0fc63daf-8483-4772-8e79-3d69d8477de4" LABEL="labboot"',
    'NAME="/dev/nvme0n1p3" PARTTYPE="e6d6d379-f507-44c2-a23c-238f2a3df928" LABEL=""',
  ].join("\n");

  interface PreCase {
    name: string;
    disks: FakeDisk[];
    efi: boolean;
    over: Partial<InstallContext>;
    env?: Record<string, string>;
    ok: boolean;
    want?: string[];
    wantNot?: string[];
    progress: string;
  }
  const CASES: PreCase[] = [
    {
      name: "fresh EFI install on NVMe, USB SSD ignored",
      disks: [DISKS.usbSsd, DISKS.nvme],
      efi: true,
      over: {},
      ok: true,
      want: [
        "ignoredisk --only-use=nvme0n1",
        "zerombr",
        "clearpart --all --initlabel --drives=nvme0n1 --disklabel=gpt",
        "part /boot/efi --fstype=efi --size=600 --ondisk=nvme0n1",
        "part /boot --fstype=ext4 --size=3072 --label=labboot --ondisk=nvme0n1",
        "volgroup labvg pv.01",
        "logvol / --vgname=labvg --name=root --fstype=xfs --size=33792",
        "logvol /var --vgname=labvg --name=var --fstype=xfs --size=102400",
        "logvol swap --vgname=labvg --name=swap --fstype=swap --size=27648",
        "bootloader --location=mbr --boot-drive=nvme0n1",
      ],
      progress: "partitioning running installing to nvme0n1",
    },
    {
      name: "fresh BIOS install on a small virtio disk: volumes scaled down",
      disks: [DISKS.virtio],
      efi: false,
      over: { console: "ttyS0,115200" },
      ok: true,
      want: [
        "part biosboot --fstype=biosboot --size=1 --ondisk=vda",
        'bootloader --location=mbr --boot-drive=vda --append="console=tty0 console=ttyS0,115200"',
      ],
      wantNot: ["--size=33792"],
      progress: "partitioning running installing to vda",
    },
    {
      name: "reprovision keeps /home /srv, recreates the system, adds longhorn",
      disks: [DISKS.nvme],
      efi: true,
      over: REPROVISION_KEEP,
      env: {
        FAKE_VG: "1",
        FAKE_LVS: EXISTING,
        FAKE_PVS: "  /dev/nvme0n1p3 labvg",
        FAKE_FREE: "50000",
        FAKE_LSBLK: NVME_PARTS,
      },
      ok: true,
      want: [
        "ignoredisk --only-use=nvme0n1",
        "part /boot/efi --onpart=nvme0n1p1 --fstype=efi",
        "part /boot --onpart=nvme0n1p2 --fstype=ext4 --label=labboot",
        "volgroup labvg --useexisting --noformat",
        "logvol /home --vgname=labvg --name=home --useexisting --noformat",
        "logvol /srv --vgname=labvg --name=srv --useexisting --noformat",
        "logvol / --vgname=labvg --name=root --useexisting --fstype=xfs",
        "logvol /var --vgname=labvg --name=var --useexisting --fstype=xfs",
        "logvol swap --vgname=labvg --name=swap --useexisting --fstype=swap",
        "logvol /var/lib/longhorn --vgname=labvg --name=var_lib_longhorn --fstype=xfs --size=10240 --grow",
      ],
      wantNot: ["zerombr", "clearpart"],
      progress: "partitioning running reprovisioning nvme0n1, keeping the preserved volumes",
    },
    {
      name: "reprovision without an existing labvg installs fresh",
      disks: [DISKS.sata],
      efi: true,
      over: REPROVISION_KEEP,
      env: { FAKE_PVS: "" },
      ok: true,
      want: [
        "clearpart --all --initlabel --drives=sda --disklabel=gpt",
        "logvol /home --vgname=labvg --name=home --fstype=xfs --size=10240",
      ],
      progress: "partitioning running installing to sda",
    },
    {
      name: "reprovision refuses when labvg lives on another disk",
      disks: [DISKS.nvme, DISKS.sata],
      efi: true,
      over: REPROVISION_KEEP,
      env: { FAKE_VG: "1", FAKE_LVS: EXISTING, FAKE_PVS: "  /dev/sda3 labvg", FAKE_LSBLK: NVME_PARTS },
      ok: false,
      progress: "partitioning failed labvg is not on nvme0n1 alone: refusing to touch the preserved volumes",
    },
    {
      name: "reprovision refuses when the Lab partitions are missing",
      disks: [DISKS.nvme],
      efi: true,
      over: REPROVISION_KEEP,
      env: {
        FAKE_VG: "1",
        FAKE_LVS: EXISTING,
        FAKE_PVS: "  /dev/nvme0n1p3 labvg",
        FAKE_LSBLK: 'NAME="/dev/nvme0n1p3" PARTTYPE="x" LABEL=""',
      },
      ok: false,
      progress:
        "partitioning failed the partitions of a Lab install are not all on nvme0n1: refusing to reprovision",
    },
    {
      name: "no usable disk",
      disks: [DISKS.usbSsd, DISKS.cardReader],
      efi: true,
      over: {},
      ok: false,
      progress: "partitioning failed no install disk found (wanted auto)",
    },
  ];

  let k = 0;
  for (const c of CASES) {
    it(c.name, async () => {
      const dir = join(root, `case-${k++}`);
      const sys = await fakeSysfs(dir, c.disks, { efi: c.efi });
      const out = join(dir, "lab-part.ks");
      const ks = renderKickstart(
        sampleContext(SAMPLE_IMAGES.rocky as never, { ...c.over, serverUrl: server.url }),
      );
      const pre = sectionBody(ks, "%pre --interpreter");
      server.progress.length = 0;
      const r = await runSh("dash", pre.replaceAll("/tmp/lab-volumes", join(dir, "volumes")), {
        LAB_SYSFS: sys,
        LAB_PART_KS: out,
        LAB_STAGE_FILE: join(dir, "stage"),
        PATH_PREFIX: stubs,
        ...c.env,
      });
      const last = server.progress.at(-1);
      expect(`${last?.stage} ${last?.status} ${last?.message}`).toBe(c.progress);
      expect(server.progress[0]).toMatchObject({ stage: "booted", status: "ok", mac: "52:54:00:12:34:56" });
      if (!c.ok) {
        expect(r.code).not.toBe(0);
        await expect(readFile(out)).rejects.toThrow();
        return;
      }
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
      const part = await readFile(out, "utf8");
      expect(validate(part)).toEqual([]);
      const lines = part.trim().split("\n");
      for (const w of c.want ?? []) expect(lines).toContain(w);
      for (const w of c.wantNot ?? []) expect(part).not.toContain(w);
      if (!part.includes("--useexisting")) {
        // Fresh installs fit the disk: the sized volumes add up to less than the space.
        const size = c.disks.find((d) => part.includes(`--drives=${d.name}`))?.sizeGiB ?? 0;
        const total = [...part.matchAll(/logvol .* --size=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
        expect(total).toBeLessThan(size * 1024 - 3672);
      }
    });
  }
});
