import { describe, expect, it } from "vitest";
import { INSTALL_FILES, primaryInstallFile, renderInstallFile } from "./files.js";
import { SAMPLE_IMAGES, sampleContext } from "./testing.js";
import type { ImageSpec } from "./types.js";

describe("renderInstallFile", () => {
  it("gives Lab's own images their settings and join token as quoted shell variables", () => {
    const ctx = { ...sampleContext(SAMPLE_IMAGES.discovery as ImageSpec), joinToken: "labj_it's-quoted" };
    expect(renderInstallFile(ctx, "lab.env")?.body).toContain("LAB_JOIN_TOKEN='labj_it'\\''s-quoted'\n");
  });

  const NAMES = [
    "user-data",
    "meta-data",
    "vendor-data",
    "ks.cfg",
    "preseed.cfg",
    "talos.yaml",
    "lab.env",
    "boot.ipxe",
    "../etc/passwd",
    "",
  ];
  for (const img of Object.values(SAMPLE_IMAGES) as ImageSpec[]) {
    it(`${img.format}: serves exactly its own files`, () => {
      const ctx = sampleContext(img);
      const served = NAMES.filter((n) => renderInstallFile(ctx, n) !== undefined);
      expect(served).toEqual([...INSTALL_FILES[img.format]]);
      for (const n of served) expect(renderInstallFile(ctx, n)?.contentType).toMatch(/charset=utf-8$/);
    });
  }

  it("points each installer at its first file (lab.env for Lab's images); none for Talos push", () => {
    const first = (img: ImageSpec) => primaryInstallFile({ image: img });
    expect((Object.values(SAMPLE_IMAGES) as ImageSpec[]).map(first)).toEqual([
      "user-data",
      "ks.cfg",
      "preseed.cfg",
      "talos.yaml",
      "lab.env",
    ]);
    expect(first({ ...(SAMPLE_IMAGES.talos as ImageSpec), talos: { mode: "push" } })).toBeUndefined();
  });
});
