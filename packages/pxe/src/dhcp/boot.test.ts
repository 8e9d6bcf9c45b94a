import { describe, expect, it } from "vitest";
import { type BootClient, type BootConfig, chooseBoot, isBootClient } from "./boot.js";

const cfg: BootConfig = { httpBase: "http://10.0.0.1:8080" };
const custom: BootConfig = {
  httpBase: "http://10.0.0.1:8080/",
  efiX64File: "snponly.efi",
  efiArm64File: "arm64/snponly.efi",
  biosFile: "ipxe.pxe",
  httpFilesBase: "http://10.0.0.1:8080/pxe/v1/boot",
};

type Row = [
  string,
  BootClient,
  BootConfig,
  { file: string; protocol: string; stage: string; vendorClass: string } | string,
];

const rows: Row[] = [
  [
    "BIOS PXE ROM",
    { arch: 0, vendorClass: "PXEClient:Arch:00000:UNDI:002001" },
    cfg,
    { file: "undionly.kpxe", protocol: "tftp", stage: "bios", vendorClass: "PXEClient" },
  ],
  [
    "old PXE ROM without option 93",
    { vendorClass: "PXEClient" },
    cfg,
    { file: "undionly.kpxe", protocol: "tftp", stage: "bios", vendorClass: "PXEClient" },
  ],
  [
    "x86-64 UEFI (arch 7)",
    { arch: 7, vendorClass: "PXEClient:Arch:00007:UNDI:003016" },
    cfg,
    { file: "ipxe.efi", protocol: "tftp", stage: "efi-x64", vendorClass: "PXEClient" },
  ],
  [
    "x86-64 UEFI (arch 9)",
    { arch: 9, vendorClass: "PXEClient:Arch:00009:UNDI:003016" },
    cfg,
    { file: "ipxe.efi", protocol: "tftp", stage: "efi-x64", vendorClass: "PXEClient" },
  ],
  [
    "x86-64 UEFI with snponly.efi configured",
    { arch: 7, vendorClass: "PXEClient:Arch:00007" },
    custom,
    { file: "snponly.efi", protocol: "tftp", stage: "efi-x64", vendorClass: "PXEClient" },
  ],
  [
    "arm64 UEFI (arch 11)",
    { arch: 11, vendorClass: "PXEClient:Arch:00011:UNDI:003000" },
    cfg,
    { file: "ipxe-arm64.efi", protocol: "tftp", stage: "efi-arm64", vendorClass: "PXEClient" },
  ],
  [
    "arm64 UEFI, configured file",
    { arch: 11, vendorClass: "PXEClient:Arch:00011" },
    custom,
    { file: "arm64/snponly.efi", protocol: "tftp", stage: "efi-arm64", vendorClass: "PXEClient" },
  ],
  [
    "BIOS, configured file",
    { arch: 0, vendorClass: "PXEClient" },
    custom,
    { file: "ipxe.pxe", protocol: "tftp", stage: "bios", vendorClass: "PXEClient" },
  ],
  [
    "UEFI HTTP boot x86-64 (arch 16)",
    { arch: 16, vendorClass: "HTTPClient:Arch:00016" },
    cfg,
    {
      file: "http://10.0.0.1:8080/ipxe.efi",
      protocol: "http",
      stage: "http-efi-x64",
      vendorClass: "HTTPClient",
    },
  ],
  [
    "UEFI HTTP boot with a files base",
    { arch: 16, vendorClass: "HTTPClient:Arch:00016" },
    custom,
    {
      file: "http://10.0.0.1:8080/pxe/v1/boot/snponly.efi",
      protocol: "http",
      stage: "http-efi-x64",
      vendorClass: "HTTPClient",
    },
  ],
  [
    "UEFI HTTP boot arm64 (arch 19)",
    { arch: 19, vendorClass: "HTTPClient:Arch:00019" },
    cfg,
    {
      file: "http://10.0.0.1:8080/ipxe-arm64.efi",
      protocol: "http",
      stage: "http-efi-arm64",
      vendorClass: "HTTPClient",
    },
  ],
  [
    "iPXE by user class",
    { arch: 0, vendorClass: "PXEClient:Arch:00000:UNDI:002001", userClasses: ["iPXE"] },
    cfg,
    {
      file: "http://10.0.0.1:8080/boot.ipxe",
      protocol: "http",
      stage: "ipxe-script",
      vendorClass: "PXEClient",
    },
  ],
  [
    "iPXE by option 175 only",
    { arch: 7, vendorClass: "PXEClient:Arch:00007", ipxeOptions: true },
    cfg,
    {
      file: "http://10.0.0.1:8080/boot.ipxe",
      protocol: "http",
      stage: "ipxe-script",
      vendorClass: "PXEClient",
    },
  ],
  [
    "iPXE on arm64 (never TFTP again)",
    { arch: 11, vendorClass: "PXEClient:Arch:00011", userClasses: ["iPXE"] },
    custom,
    {
      file: "http://10.0.0.1:8080/boot.ipxe",
      protocol: "http",
      stage: "ipxe-script",
      vendorClass: "PXEClient",
    },
  ],
  [
    "UEFI IA32 (arch 6)",
    { arch: 6, vendorClass: "PXEClient:Arch:00006" },
    cfg,
    "PXE client architecture 6 is not supported",
  ],
  [
    "HTTP boot for IA32 (arch 15)",
    { arch: 15, vendorClass: "HTTPClient:Arch:00015" },
    cfg,
    "UEFI HTTP boot for architecture 15",
  ],
  ["an ordinary DHCP client", { vendorClass: "udhcp 1.35.0" }, cfg, "not a PXE client"],
  ["a client without vendor class", {}, cfg, "not a PXE client"],
];

describe("chooseBoot", () => {
  it.each(rows)("%s", (_name, client, config, expected) => {
    const got = chooseBoot(client, config);
    if (typeof expected === "string") {
      expect(got.ok).toBe(false);
      if (!got.ok) expect(got.reason).toContain(expected);
    } else {
      expect(got).toEqual({ ok: true, ...expected });
    }
  });
});

describe("isBootClient", () => {
  const cases: Array<[string, BootClient, boolean]> = [
    ["PXEClient vendor class", { vendorClass: "PXEClient:Arch:00000" }, true],
    ["HTTPClient vendor class", { vendorClass: "HTTPClient:Arch:00016" }, true],
    ["iPXE user class without vendor class", { userClasses: ["iPXE"] }, true],
    ["option 175", { ipxeOptions: true }, true],
    ["udhcpc", { vendorClass: "udhcp 1.35.0" }, false],
    ["lower-case pxeclient is not PXE", { vendorClass: "pxeclient" }, false],
  ];
  it.each(cases)("%s → %s", (_n, c, want) => {
    expect(isBootClient(c)).toBe(want);
  });
});
