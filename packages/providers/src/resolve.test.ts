import { Fleet, parseSources } from "@lab/core";
import { describe, expect, it } from "vitest";
import { resourceSpec } from "./resolve.js";

const MODEL = `
sizes:
  medium:
    abstract: { cores: 4, memory: 8GB }
    providers: { aws: { instance_type: t3.large } }
labels:
  web: { size: medium }
images:
  ubuntu-24.04:
    format: autoinstall
    kernel: vmlinuz
    initrd: initrd
    providers:
      aws: { ami: ami-0c2b0d3fb02824d92 }
      libvirt: { volume: ubuntu-24.04-base.qcow2 }
servers:
  ec2-1: { provider: aws, labels: [web], image: ubuntu-24.04 }
  vm-1: { provider: libvirt, labels: [web], image: ubuntu-24.04 }
  metal-1: { provider: baremetal, labels: [web], image: ubuntu-24.04, mac: "52:54:00:12:34:56" }
`;

function fleet(text = MODEL): Fleet {
  const r = parseSources([{ path: "m.yaml", text }]);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return new Fleet(r.model);
}

describe("resourceSpec: one image, as each provider names it", () => {
  it.each([
    ["ec2-1", "ami-0c2b0d3fb02824d92"],
    ["vm-1", "ubuntu-24.04-base.qcow2"],
    // Bare metal installs the image's own kernel and initrd: there is nothing to name.
    ["metal-1", null],
  ])("%s → %s", (server, ref) => {
    expect(resourceSpec(fleet(), server).image).toEqual({ name: "ubuntu-24.04", ref });
  });

  it("the size comes through the label, in the provider's words", () => {
    const s = resourceSpec(fleet(), "ec2-1");
    expect(s.size).toBe("medium");
    expect(s.sizing.instanceType).toBe("t3.large");
  });

  it("an image without a mapping for the provider has no ref (aws then asks for one)", () => {
    const f = fleet(MODEL.replace("      aws: { ami: ami-0c2b0d3fb02824d92 }\n", ""));
    expect(resourceSpec(f, "ec2-1").image).toEqual({ name: "ubuntu-24.04", ref: null });
  });

  it("a malformed AMI or an unknown provider key is refused where it is written", () => {
    for (const [from, to, message] of [
      ["ami-0c2b0d3fb02824d92", "ubuntu-noble", /AMI id/],
      ["libvirt: { volume", "xcpng: { volume", /unknown key "xcpng"/],
    ] as const) {
      const r = parseSources([{ path: "m.yaml", text: MODEL.replace(from, to) }]);
      const errors = r.diagnostics.filter((d) => d.severity === "error");
      expect(errors.length).toBe(1);
      expect(errors[0]?.message).toMatch(message);
      expect(errors[0]?.location?.line).toBeGreaterThan(10);
    }
  });
});
