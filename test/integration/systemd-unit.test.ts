import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/cli.js";

describe("the systemd unit", () => {
  it("passes systemd-analyze verify (with ExecStart pointed at this checkout)", () => {
    const unit = readFileSync(join(ROOT, "deploy/lab-server.service"), "utf8").replace(
      "/usr/local/bin/lab",
      join(ROOT, "bin/lab.js"),
    );
    const path = join(mkdtempSync(join(tmpdir(), "lab-unit-")), "lab-server.service");
    writeFileSync(path, unit);
    const r = spawnSync("systemd-analyze", ["verify", path], { encoding: "utf8" });
    expect(r.error, "install it: apt-get install -y systemd").toBeUndefined();
    // It may warn about the lab user missing on this machine; anything else is a defect.
    const problems = `${r.stdout}${r.stderr}`
      .split("\n")
      .filter((l) => l.trim() && !/User=lab|Group=lab|user lab|group lab/i.test(l));
    expect(problems).toEqual([]);
    expect(r.status).toBe(0);
  });
});
