/**
 * The README's "Sixty seconds with lab" block, run line by line exactly as a new user would
 * paste it: the install line puts `lab` on PATH (into a throwaway npm prefix here), and every
 * command after it must work in a fresh home.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, tempHome } from "../support/cli.js";

function sixtySeconds(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split("## Sixty seconds with lab")[1] ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter(Boolean);
}

describe("the README's sixty seconds", () => {
  it("starts by putting lab on PATH, and every command after it works as pasted", () => {
    const lines = sixtySeconds();
    expect(lines[0]).toBe("npm install -g .");
    expect(lines.length).toBeGreaterThan(5);
    const home = tempHome("lab-readme-");
    const prefix = join(home, "npm-global");
    const env = { PATH: `${join(prefix, "bin")}:${process.env.PATH}`, HOME: home, npm_config_prefix: prefix };
    for (const line of lines) {
      expect(line === lines[0] || line.startsWith("lab ")).toBe(true);
      const r = spawnSync("bash", ["-c", line], { cwd: ROOT, env, encoding: "utf8", timeout: 120_000 });
      expect(r.status, `${line}\n${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});
