/**
 * The artifact builder with real buildah (vfs storage, no daemon, no network): a label's
 * classes are applied by real Puppet inside the build, the image is tagged and listed by
 * `lab get containers`; a class that fails fails the build and tags nothing. The base image
 * (debootstrapped bookworm + Debian's puppet) is built once into a cached buildah root.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, ROOT, tempHome } from "../support/cli.js";

const STORAGE = process.env.LAB_TEST_BUILDAH_ROOT ?? "/var/cache/lab-test/buildah";
const B = ["--storage-driver", "vfs", "--root", STORAGE, "--runroot", join(STORAGE, "run")];
const buildah = (...args: string[]) => spawnSync("buildah", [...B, ...args], { encoding: "utf8" });

describe("lab build: a label's Puppet classes baked into an image with buildah", () => {
  const home = tempHome();
  const registry = `localhost/lab-test-${process.pid}`;
  const lab = labAsyncIn(home, { LAB_BUILDAH_ROOT: STORAGE });
  const modules = mkdtempSync(join(tmpdir(), "lab-build-modules-"));

  beforeAll(async () => {
    if (spawnSync("buildah", ["--version"]).status !== 0) {
      throw new Error("buildah is not installed: apt-get install buildah (scripts/ensure-peers.sh)");
    }
    // Asynchronously: building the base the first time takes minutes, and a synchronous child
    // would block this worker's replies to vitest.
    const base = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn("bash", [join(ROOT, "scripts/build-base-image.sh"), STORAGE], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (c) => {
        stderr += String(c);
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr }));
    });
    expect(base.code, base.stderr).toBe(0);
    mkdirSync(join(modules, "lab_test", "manifests"), { recursive: true });
    const pp = (name: string, body: string) =>
      writeFileSync(join(modules, "lab_test", "manifests", `${name}.pp`), body);
    pp(
      "web",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Puppet's interpolation, not JavaScript's
      'class lab_test::web { file { "/srv/lab-web.txt": content => "built for ${::lab_role}\\n" } }\n',
    );
    pp("motd", 'class lab_test::motd { file { "/etc/motd": content => "Lab artifact\\n" } }\n');
    pp("broken", 'class lab_test::broken { file { "/nonexistent-dir/x": content => "x" } }\n');
    const model = join(modules, "model.yaml");
    writeFileSync(
      model,
      "labels:\n  web: { puppet_classes: [lab_test::web, lab_test::motd], ports: [80] }\n  broken: { puppet_classes: [lab_test::broken] }\n  plain: {}\n",
    );
    expect((await lab(["apply", "-f", model])).code).toBe(0);
  }, 900_000);

  afterAll(() => {
    for (const line of buildah("images", "--format", "{{.Name}}:{{.Tag}}").stdout.split("\n")) {
      if (line.startsWith(registry)) buildah("rmi", "-f", line);
    }
  });

  it("builds, tags and lists the image; Puppet's changes are in it", async () => {
    const r = await lab(["build", "-l", "web", "--modulepath", modules, "--registry", registry]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Building web from puppet classes:\n");
    expect(r.stdout).toMatch(/\[5\/7\] RUN puppet apply/);
    expect(r.stdout).toContain("  ✓ lab_test::web\n  ✓ lab_test::motd\n");
    const tag = /→ (\S+)/.exec(r.stdout)?.[1] as string;
    expect(tag).toMatch(new RegExp(`^${registry}/web:\\d{4}\\.\\d\\d\\.\\d\\d$`));

    const ctr = buildah("from", tag).stdout.trim();
    try {
      const mount = buildah("mount", ctr).stdout.trim();
      const read = (p: string) => spawnSync("cat", [join(mount, p)], { encoding: "utf8" }).stdout;
      expect(read("srv/lab-web.txt")).toBe("built for web\n");
      expect(read("etc/motd")).toBe("Lab artifact\n");
      // The modules were cleaned up after the apply.
      expect(spawnSync("test", ["-e", join(mount, "etc/puppet/code/modules")]).status).not.toBe(0);
    } finally {
      buildah("rm", ctr);
    }
    const rows = JSON.parse((await lab(["get", "containers", "-o", "json"])).stdout);
    expect(rows).toContainEqual(
      expect.objectContaining({ image: tag, label: "web", classes: ["lab_test::web", "lab_test::motd"] }),
    );
    expect((await lab(["get", "containers"])).stdout).toMatch(
      new RegExp(`web +${tag.replaceAll(".", "\\.")} +web +— +built`),
    );
  }, 600_000);

  it("a class that fails fails the build, and nothing is tagged", async () => {
    const r = await lab(["build", "-l", "broken", "--modulepath", modules, "--registry", registry]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_BUILD");
    expect(r.stderr).toContain("/nonexistent-dir/x");
    expect(buildah("images", "--format", "{{.Name}}").stdout).not.toContain(`${registry}/broken`);
  }, 600_000);

  it("a label without classes, or without modules, says what to do", async () => {
    const plain = await lab(["build", "-l", "plain", "--modulepath", modules]);
    expect(plain.stderr).toContain("label plain has no puppet_classes");
    const none = await lab(["build", "-l", "web"]);
    expect(none.stderr).toContain("pass --modulepath or set LAB_PUPPET_MODULEPATH");
  });
});
