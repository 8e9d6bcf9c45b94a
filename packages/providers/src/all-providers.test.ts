import { allResources, parsePriceFile, parseSources, type Resource } from "@lab/core";
import { describe, expect, it } from "vitest";
import { allProviders, COMPARED_PROVIDERS, computeWords } from "./all-providers.js";
import { PROVIDERS } from "./registry.js";
import type { Sizing } from "./types.js";

const MODEL = `
sizes:
  medium:
    abstract: { cores: 4, memory: 8GB }
    providers:
      aws: { instance_type: t3.large }
      xcpng: { cores: 4, memory: 8192MB }
      baremetal: { min_cores: 4, min_memory: 8GB }
labels:
  mailserver:
    puppet_classes: [postfix, dovecot]
    ports: [25, 993]
    size: medium
  tag: {}
servers:
  mail-1: { provider: baremetal, labels: [mailserver], image: ubuntu, power: { driver: ipmi, host: 10.0.0.9, user: u, password_secret: ipmi/pw } }
  mail-2: { provider: aws, labels: [mailserver] }
images:
  ubuntu: { format: autoinstall, kernel: vmlinuz, initrd: initrd }
`;

function resources(text = MODEL): Resource[] {
  const r = parseSources([{ path: "m.yaml", text }]);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return [...allResources(r.model)];
}

const sizing = (o: Partial<Sizing>): Sizing => ({
  cores: null,
  memoryMiB: null,
  diskMiB: null,
  instanceType: null,
  atLeast: false,
  ...o,
});

describe("computeWords: each provider's words for a size", () => {
  it.each([
    ["aws", sizing({ instanceType: "t3.large" }), true, "t3.large"],
    ["aws", sizing({ cores: 4 }), true, "— (size has no instance_type)"],
    ["aws", sizing({}), false, "— (no size)"],
    ["libvirt", sizing({ cores: 4, memoryMiB: 8192 }), true, "4c/8GB"],
    ["libvirt", sizing({ cores: 4 }), true, "4c/512MB (libvirt default)"],
    ["libvirt", sizing({}), false, "1c/512MB (libvirt default)"],
    [
      "baremetal",
      sizing({ cores: 4, memoryMiB: 8192, atLeast: true }),
      true,
      "PXE + power by hand, ≥ 4c/8GB",
    ],
    ["baremetal", sizing({}), false, "PXE + power by hand"],
    ["ssh", sizing({ cores: 4, memoryMiB: 8192, atLeast: true }), true, "existing machine ≥ 4c/8GB"],
    ["ssh", sizing({}), false, "existing machine"],
  ] as const)("%s %j → %s", (provider, s, sized, words) => {
    expect(computeWords(provider, s, sized)).toBe(words);
  });

  it("bare metal names the power drivers the label's servers use; manual is by hand", () => {
    const s = sizing({});
    const ipmi = { provider: "baremetal", power: { driver: "ipmi" } } as never;
    const manual = { provider: "baremetal", power: { driver: "manual" } } as never;
    expect(computeWords("baremetal", s, false, [ipmi, manual])).toBe("PXE + ipmi");
    expect(computeWords("baremetal", s, false, [manual])).toBe("PXE + power by hand");
  });
});

describe("allProviders", () => {
  it("compares every provider the registry has", () => {
    expect([...COMPARED_PROVIDERS].sort()).toEqual([...PROVIDERS].sort());
  });

  it("resolves the label as a server would get it: size and classes with where they came from", () => {
    const v = allProviders(resources(), "mailserver");
    expect(v.size).toEqual({ name: "medium", from: [{ kind: "label", name: "mailserver" }] });
    expect(v.classes.map((c) => c.name)).toEqual(["postfix", "dovecot"]);
    expect(v.ports.map((p) => p.port)).toEqual([25, 993]);
    expect(v.columns.map((c) => [c.provider, c.compute])).toEqual([
      ["aws", "t3.large"],
      ["libvirt", "4c/8GB"],
      ["baremetal", "PXE + ipmi, ≥ 4c/8GB"],
      ["ssh", "existing machine ≥ 4c/8GB"],
    ]);
    expect(v.columns.find((c) => c.provider === "baremetal")?.images).toEqual(["ubuntu"]);
    expect(v.columns.find((c) => c.provider === "aws")?.images).toEqual([]);
    expect(v.unregistered).toEqual(["xcpng"]);
  });

  it("names each server's image as its provider does (images.*.providers)", () => {
    const text = MODEL.replace(
      "mail-2: { provider: aws, labels: [mailserver] }",
      "mail-2: { provider: aws, labels: [mailserver], image: ubuntu }",
    ).replace(
      "ubuntu: { format: autoinstall, kernel: vmlinuz, initrd: initrd }",
      "ubuntu: { format: autoinstall, kernel: vmlinuz, initrd: initrd, providers: { aws: { ami: ami-0abc1234 } } }",
    );
    const v = allProviders(resources(text), "mailserver");
    expect(v.columns.find((c) => c.provider === "aws")?.images).toEqual(["ubuntu (ami-0abc1234)"]);
    expect(v.columns.find((c) => c.provider === "baremetal")?.images).toEqual(["ubuntu"]);
  });

  it("prices aws from the shipped default and leaves the rest unpriced (null, not 0)", () => {
    const v = allProviders(resources(), "mailserver");
    const aws = v.columns[0];
    expect(aws?.cost).toMatchObject({
      key: "t3.large",
      hourly: 0.0832,
      source: "default",
      region: "us-east-1",
    });
    expect(aws?.cost?.monthly).toBeCloseTo(60.736, 6);
    for (const c of v.columns.slice(1)) {
      expect(c.cost).toBeNull();
      expect(c.noCost).toBe("no price table: add one under prices:");
    }
  });

  it("a user table prices by instance type or by size name, and says what it lacks", () => {
    const model = `${MODEL}prices:\n  libvirt: {as_of: 2026-03-01, currency: EUR, hourly: {medium: 0.01}}\n  aws: {as_of: 2026-03-01, hourly: {t3.medium: 0.05}}\n`;
    const v = allProviders(resources(model), "mailserver");
    const by = Object.fromEntries(v.columns.map((c) => [c.provider, c]));
    expect(by.libvirt?.cost).toMatchObject({ key: "medium", currency: "EUR", source: "model" });
    expect(by.aws?.cost).toBeNull();
    expect(by.aws?.noCost).toBe("its price table lists no t3.large or medium");
    const file = parsePriceFile({
      path: "f.yaml",
      text: "prices:\n  aws: {as_of: 2026-04-01, hourly: {t3.large: 0.09}}\n",
    });
    const over = allProviders(resources(model), "mailserver", { priceFile: file });
    expect(over.columns[0]?.cost).toMatchObject({ hourly: 0.09, source: "file", as_of: "2026-04-01" });
  });

  it("a label without a size still compares, with nothing to price", () => {
    const v = allProviders(resources(), "tag");
    expect(v.size).toBeNull();
    expect(v.columns[0]).toMatchObject({ compute: "— (no size)", cost: null, noCost: "no size to price" });
  });

  it("an unknown label is the usual not-found, with a suggestion", () => {
    expect(() => allProviders(resources(), "mailservr")).toThrow(
      expect.objectContaining({
        code: "LAB_E_NOT_FOUND",
        message: expect.stringContaining('did you mean "mailserver"'),
      }),
    );
  });
});
