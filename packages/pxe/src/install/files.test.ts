import { describe, expect, it } from "vitest";
import { INSTALL_FILES, primaryInstallFile, renderInstallFile } from "./files.js";
import { SAMPLE_IMAGES, sampleContext } from "./testing.js";
import type { ImageSpec } from "./types.js";

describe("renderInstallFile", () => {
  const NAMES = [
    "user-data",
    "meta-data",
    "vendor-data",
    "ks.cfg",
    "preseed.cfg",
    "talos.yaml",
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

  it("points each installer at its first file; none for Lab's images and Talos push", () => {
    const first = (img: ImageSpec) => primaryInstallFile({ image: img });
    expect((Object.values(SAMPLE_IMAGES) as ImageSpec[]).map(first)).toEqual([
      "user-data",
      "ks.cfg",
      "preseed.cfg",
      "talos.yaml",
      undefined,
    ]);
    expect(first({ ...(SAMPLE_IMAGES.talos as ImageSpec), talos: { mode: "push" } })).toBeUndefined();
  });
});
