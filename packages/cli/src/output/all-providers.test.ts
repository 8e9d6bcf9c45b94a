import { allResources, parseSources } from "@lab/core";
import { allProviders } from "@lab/providers";
import { describe, expect, it } from "vitest";
import { allProvidersTable } from "./all-providers.js";
import { grid, wrap } from "./grid.js";
import { makeStyle } from "./style.js";

const plain = (width: number) => makeStyle({ isTTY: true, columns: width }, { NO_COLOR: "1" });

describe("grid", () => {
  it("wraps at spaces, and cuts only a word longer than the line", () => {
    expect(wrap("postfix, dovecot, spamassassin", 18)).toEqual(["postfix, dovecot,", "spamassassin"]);
    expect(wrap("short", 10)).toEqual(["short"]);
    expect(wrap("supercalifragilistic", 8)).toEqual(["superca…"]);
  });

  it.each([60, 80, 100])("fits %i columns, keeping the row names whole", (width) => {
    const out = grid(
      ["", "AWS", "libvirt"],
      [
        ["Compute", "t3.large", "4c/8GB"],
        [
          "Puppet",
          "postfix, dovecot, spamassassin, fail2ban, opendkim",
          "postfix, dovecot, spamassassin, fail2ban",
        ],
      ],
      plain(width),
    );
    const lines = out.split("\n");
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(width);
    // Every line of the frame is as wide as the others.
    expect(new Set(lines.map((l) => [...l].length)).size).toBe(1);
    expect(out).toContain("│ Compute │");
    // Nothing is lost: the words are all there, wrapped.
    for (const w of ["spamassassin,", "fail2ban,", "opendkim"]) expect(out).toContain(w);
  });
});

describe("allProvidersTable", () => {
  const text = `
sizes:
  medium:
    abstract: { cores: 4, memory: 8GB }
    providers: { aws: { instance_type: t3.large }, xcpng: { cores: 4 } }
labels:
  mailserver: { puppet_classes: [postfix, dovecot, spamassassin, fail2ban], ports: [25, 587, 993], size: medium }
`;
  const view = allProviders([...allResources(parseSources([{ path: "m.yaml", text }]).model)], "mailserver");

  it("prints the design's rows, — for every unpriced provider, and where size and prices came from", () => {
    const out = allProvidersTable(view, plain(100));
    const lines = out.split("\n");
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(100);
    expect(lines[1]).toMatch(/^│\s+│ AWS\s+│ libvirt\s+│ Bare Metal\s+│ SSH\s+│$/);
    expect(out).toMatch(/│ Compute\s+│ t3\.large\s+│ 4c\/8GB\s+│ PXE \+ power by/);
    expect(out).toMatch(/│ Est\. Cost │ ~\$61\/mo\s+│ —\s+│ —\s+│ —\s+│/);
    expect(out).toContain("size medium from label mailserver");
    expect(out).toContain(
      "prices as of 2026-12-08, aws us-east-1 (USD, shipped default): edit with `prices:`",
    );
    expect(out).toContain("— no estimate for libvirt, baremetal, ssh: no price table: add one under prices:");
    expect(out).toContain("size medium also maps xcpng: not a provider Lab drives");
    expect(out).not.toMatch(/\$0\b/);
  });

  it("colours on a terminal without moving a single column", () => {
    const colour = allProvidersTable(view, makeStyle({ isTTY: true, columns: 100 }, { TERM: "xterm" }));
    expect(colour).toContain("\u001b[1m");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
    expect(colour.replace(/\u001b\[[0-9;]*m/g, "")).toBe(allProvidersTable(view, plain(100)));
  });

  it("still fits a narrow terminal (the grid; footnotes are one line each)", () => {
    const grid = allProvidersTable(view, plain(70))
      .split("\n")
      .filter((l) => /^[┌│├└]/.test(l));
    expect(grid.length).toBeGreaterThan(6);
    for (const l of grid) expect([...l].length).toBeLessThanOrEqual(70);
  });
});
