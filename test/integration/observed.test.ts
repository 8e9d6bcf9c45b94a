/**
 * What a new user trips on, through the CLI as they meet it: every kind answers to both of
 * its spellings, a server name is checked once with the model's rule wherever it enters, and
 * a server that cannot open its API port does not keep its other listeners running.
 */
import net from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/child.js";
import { labAsyncIn as labIn, tempHome } from "../support/cli.js";

describe("kinds and names", () => {
  const home = tempHome();
  const lab = labIn(home);
  beforeAll(async () => {
    expect((await lab(["apply", "-f", "examples/homelab"])).code).toBe(0);
  });

  // Every kind `lab get` lists, singular and plural (the plural of class is classes).
  it.each([
    ["server", "servers"],
    ["label", "labels"],
    ["group", "groups"],
    ["alert", "alerts"],
    ["secret", "secrets"],
    ["size", "sizes"],
    ["class", "classes"],
    ["image", "images"],
    ["label_rule", "label_rules"],
    ["event", "events"],
  ])("lab get %s and lab get %s list the same rows", async (singular, plural) => {
    const one = await lab(["get", singular, "-o", "json"]);
    const many = await lab(["get", plural, "-o", "json"]);
    expect(one.stderr).toBe("");
    expect(one.code).toBe(0);
    expect(many.code).toBe(0);
    expect(one.stdout).toBe(many.stdout);
  });

  it.each([
    { name: "web.1", why: "a dot" },
    { name: "Web-1", why: "upper case" },
    { name: "web_1", why: "an underscore" },
    { name: "web-", why: "a trailing hyphen" },
  ])("lab onboard refuses $name ($why) before any step, with the model's rule", async ({ name }) => {
    for (const args of [
      ["--provider", "baremetal", "--mac", "52:54:00:12:34:56", "--yes", "--no-wait"],
      ["--provider", "ssh", "--host", "127.0.0.1", "--yes"],
    ]) {
      const r = await lab(["onboard", name, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `error LAB_E_SERVER_NAME: "${name}" is not a server name: server names are host names`,
      );
      expect(r.stdout).toBe("");
    }
    // The same rule in YAML, at the key.
    const file = `servers:\n  ${name}:\n    provider: ssh\n`;
    const applied = await lab(["apply", "-f", "-"], file);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toMatch(
      /^<stdin>:2:3: error LAB_E_SCHEMA_VALUE: servers\..+: server names are host names/m,
    );
  });
});

describe("formats Lab advertises", () => {
  it("does not offer Talos, and refuses a Talos image that does not say where its machine config is", async () => {
    const lab = labIn(tempHome());
    const images = await lab(["get", "images", "-o", "json"]);
    expect((JSON.parse(images.stdout) as { format: string }[]).map((i) => i.format)).not.toContain("talos");
    const file = [
      "images:",
      "  talos-1.8:",
      "    format: talos",
      "    arch: x86_64",
      "    kernel: https://example.invalid/vmlinuz-amd64",
      "    initrd: [https://example.invalid/initramfs-amd64.xz]",
      "",
    ].join("\n");
    const r = await lab(["apply", "-f", "-"], file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^<stdin>:3:13: error LAB_E_IMAGE_UNSUPPORTED: image "talos-1.8" is a Talos image/m,
    );
  });
});

describe("a server whose API port is taken", () => {
  it("stops its boot listeners and exits non-zero instead of serving half", async () => {
    const home = tempHome();
    const lab = labIn(home);
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const taken = (blocker.address() as net.AddressInfo).port;
    const bootPort = await freePort();
    const r = await lab([
      "server",
      "--insecure-http",
      "--listen",
      `127.0.0.1:${taken}`,
      "--pxe",
      "--dhcp",
      "off",
      "--no-tftp",
      "--advertise",
      "127.0.0.1",
      "--boot-port",
      String(bootPort),
      "--syslog-port",
      String(await freePort()),
    ]);
    blocker.close();
    // It exited by itself (labIn waits for the exit), with the listen error and its code.
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error LAB_E_LISTEN: cannot listen for the API on 127.0.0.1:${taken}`);
    expect(r.stdout).toContain(`PXE: boot http://127.0.0.1:${bootPort}`);
    // The boot port it had opened is closed again.
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(bootPort, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(false);
      });
      s.once("error", () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});
