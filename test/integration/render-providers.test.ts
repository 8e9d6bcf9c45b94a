/**
 * `lab render --label L --all-providers` as a user runs it: the built binary over the homelab
 * example, in local mode and against a real `lab server` (same bytes), with the shipped aws
 * prices, a user's `prices:` in the model, a `--prices FILE`, and a broken price table.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningServer } from "@lab/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BothModes, homelabBothModes } from "../support/both-modes.js";
import { labAsyncIn, tempHome } from "../support/cli.js";

let server: RunningServer;
let home: string;
let local: BothModes["local"];
let remote: BothModes["remote"];

beforeAll(async () => {
  ({ server, home, local, remote } = await homelabBothModes("lab-render-"));
});
afterAll(async () => {
  await server?.close();
});

/** The cells of a grid row, by its name ("Est. Cost"). */
function row(out: string, name: string): string[] {
  const line = out.split("\n").find((l) => l.startsWith(`│ ${name} `));
  expect(line, `no ${name} row in:\n${out}`).toBeDefined();
  return (line as string)
    .split("│")
    .slice(2, -1)
    .map((c) => c.trim());
}

describe("lab render --label mailserver --all-providers", () => {
  it("prints the design's table for a label with a size, fitting 100 columns", async () => {
    const r = await local(["render", "--label", "mailserver", "--all-providers"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const grid = r.stdout.split("\n").filter((l) => /^[┌│├└]/.test(l));
    expect(grid).toHaveLength(12);
    for (const l of grid) expect([...l].length).toBeLessThanOrEqual(100);
    expect(row(r.stdout, " ")).toEqual(["AWS", "libvirt", "Bare Metal", "SSH"]);
    const compute = row(r.stdout, "Compute");
    expect(compute.slice(0, 2)).toEqual(["t3.large", "4c/8GB"]);
    expect(compute[2]).toMatch(/^PXE \+ power by/);
    expect(compute[3]).toMatch(/^existing machine ≥/);
    expect(row(r.stdout, "Puppet")[0]).toBe("postfix, dovecot,");
    expect(row(r.stdout, "Ports")).toEqual(Array(4).fill("25, 587, 993"));
    // t3.large at the shipped $0.0832/h × 730 h; no table for the others: "—", never $0.
    expect(row(r.stdout, "Est. Cost")).toEqual(["~$61/mo", "—", "—", "—"]);
    expect(r.stdout).toContain("size medium from label mailserver");
    expect(r.stdout).toContain(
      "prices as of 2026-12-08, aws us-east-1 (USD, shipped default): edit with `prices:`",
    );
    expect(r.stdout).toContain("— no estimate for libvirt, baremetal, ssh: no price table");
    expect(r.stdout).toContain("size medium also maps xcpng: not a provider Lab drives");
  });

  it("-o json carries the numbers and where they came from", async () => {
    const r = await local(["render", "--label", "mailserver", "--all-providers", "-o", "json"]);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout);
    expect(v.label).toBe("mailserver");
    expect(v.size).toEqual({ name: "medium", from: [{ kind: "label", name: "mailserver" }] });
    expect(v.columns.map((c: { provider: string }) => c.provider)).toEqual([
      "aws",
      "libvirt",
      "baremetal",
      "ssh",
    ]);
    expect(v.columns[0].cost).toEqual({
      provider: "aws",
      key: "t3.large",
      hourly: 0.0832,
      monthly: expect.closeTo(60.736, 6),
      currency: "USD",
      as_of: "2026-12-08",
      region: "us-east-1",
      source: "default",
    });
    for (const c of v.columns.slice(1)) expect(c.cost).toBeNull();
    expect(v.hoursPerMonth).toBe(730);
  });

  it.each([["table"], ["json"], ["yaml"]])("prints the same bytes in client mode (-o %s)", async (o) => {
    const args = ["render", "--label", "mailserver", "--all-providers", "-o", o];
    const [a, b] = await Promise.all([local(args), remote(args)]);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stderr).toBe(a.stderr);
  });

  it("an unknown label is the usual not-found, in both modes", async () => {
    const args = ["render", "--label", "mailservr", "--all-providers"];
    const [a, b] = await Promise.all([local(args), remote(args)]);
    expect(a.code).toBe(3);
    expect(a.stderr).toContain("LAB_E_NOT_FOUND");
    expect(a.stderr).toContain('did you mean "mailserver"');
    expect(b.stderr).toBe(a.stderr);
    expect(b.code).toBe(a.code);
  });

  it("a --prices file overrides the default for this run; a broken one is LAB_E_PRICES at its line", async () => {
    const good = join(home, "quote.yaml");
    writeFileSync(
      good,
      "prices:\n  aws: {as_of: 2026-11-30, region: eu-west-1, hourly: {t3.large: 0.0912}}\n",
    );
    const args = ["render", "--label", "mailserver", "--all-providers", "--prices", good];
    const [a, b] = await Promise.all([local(args), remote(args)]);
    expect(a.code).toBe(0);
    // 0.0912 × 730 = 66.58
    expect(row(a.stdout, "Est. Cost")[0]).toBe("~$67/mo");
    expect(a.stdout).toContain(`prices as of 2026-11-30, aws eu-west-1 (USD, --prices ${good}:2:3)`);
    expect(b.stdout).toBe(a.stdout);

    const bad = join(home, "bad-quote.yaml");
    writeFileSync(bad, "prices:\n  aws:\n    as_of: 2026-11-30\n    hourly: {t3.large: cheap}\n");
    const badArgs = ["render", "--label", "mailserver", "--all-providers", "--prices", bad];
    const [c, d] = await Promise.all([local(badArgs), remote(badArgs)]);
    expect(c.code).toBe(1);
    expect(c.stdout).toBe("");
    expect(c.stderr).toContain("LAB_E_PRICES");
    expect(c.stderr).toContain(`${bad}:4:24`);
    expect(d.stderr).toBe(c.stderr);
    expect(d.code).toBe(c.code);
  });

  it("lab render alerts still renders, and lab render alone says what it takes", async () => {
    const out = join(home, "prom");
    const r = await local(["render", "alerts", "--backend", "prometheus", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/prometheus → .*prom: \d+ changed/);
    const u = await local(["render"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("lab render --label L --all-providers");
    const nb = await local(["render", "alerts", "--out", out]);
    expect(nb.code).toBe(2);
    expect(nb.stderr).toContain("--backend");
    // Flags of one form are refused by the other rather than ignored.
    const mixed = await local(["render", "--label", "mailserver", "--all-providers", "--out", out]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("--backend and --out are for render alerts");
    const noFlag = await local(["render", "--label", "mailserver"]);
    expect(noFlag.code).toBe(2);
    expect(noFlag.stderr).toContain("needs --all-providers");
  });
});

describe("a user's prices: in the model", () => {
  const own = tempHome("lab-render-prices-");
  const lab = labAsyncIn(own);
  beforeAll(async () => {
    expect((await lab(["apply", "-f", "examples/homelab"])).code).toBe(0);
  });

  it("replaces the default for its provider and prices one that had none; lab get prices says where each came from", async () => {
    const file = join(own, "prices.yaml");
    writeFileSync(
      file,
      [
        "prices:",
        "  aws:",
        "    as_of: 2026-10-01",
        "    region: eu-central-1",
        "    hourly: {t3.large: 0.096, m6i.2xlarge: 0.46}",
        "  libvirt:",
        "    as_of: 2026-10-01",
        "    currency: EUR",
        "    source: our rack, power and amortised hardware",
        "    hourly: {medium: 0.01}",
        "",
      ].join("\n"),
    );
    const applied = await lab(["apply", "-f", file]);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    const r = await lab(["render", "--label", "mailserver", "--all-providers"]);
    expect(r.code).toBe(0);
    // 0.096 × 730 = 70.08; 0.01 × 730 = 7.3
    expect(row(r.stdout, "Est. Cost")).toEqual(["~$70/mo", "~€7/mo", "—", "—"]);
    expect(r.stdout).toContain(`prices as of 2026-10-01, aws eu-central-1 (USD, model, ${file}:2:3)`);
    expect(r.stdout).toContain(`prices as of 2026-10-01, libvirt (EUR, model, ${file}:6:3)`);
    expect(r.stdout).toContain("— no estimate for baremetal, ssh: no price table");

    const g = await lab(["get", "prices", "-o", "json"]);
    expect(g.code).toBe(0);
    const rows = JSON.parse(g.stdout) as { provider: string; key: string; source: string }[];
    // The model's aws table replaced the shipped one whole: no default t3.medium left over.
    expect(rows.map((x) => [x.provider, x.key, x.source])).toEqual([
      ["aws", "t3.large", "model"],
      ["aws", "m6i.2xlarge", "model"],
      ["libvirt", "medium", "model"],
    ]);
    const t = await lab(["get", "prices"]);
    expect(t.stdout).toMatch(/^PROVIDER\s+TYPE\s+PER HOUR\s+PER MONTH\s+SOURCE$/m);
    expect(t.stdout).toMatch(/^libvirt\s+medium\s+0\.01 EUR\s+~€7\/mo\s+model, /m);
    expect(t.stdout).toContain("prices as of 2026-10-01, aws eu-central-1 (USD, model,");
  });

  it("a malformed prices: is refused by lab apply with LAB_E_PRICES at file:line:col", async () => {
    const file = join(own, "bad-prices.yaml");
    writeFileSync(file, "prices:\n  aws:\n    as_of: 2026-13-01\n    hourly: {t3.large: 0.1}\n");
    const r = await lab(["apply", "-f", file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}:3:12`);
    expect(r.stderr).toContain("LAB_E_PRICES");
  });
});
