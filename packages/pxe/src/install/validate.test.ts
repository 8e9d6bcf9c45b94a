import { BUILTIN_IMAGES, isLabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { SAMPLE_IMAGES, SAMPLE_KEYS, sampleContext } from "./testing.js";
import type { InstallContext } from "./types.js";
import { checkInstallContext, imageFileUrl, machineFileUrl } from "./validate.js";

const ubuntu = SAMPLE_IMAGES.ubuntu as never;

describe("checkInstallContext", () => {
  it("normalises", () => {
    const ctx = checkInstallContext(
      sampleContext(ubuntu, {
        hostname: "Web-1",
        domain: "Lab.Internal.",
        mac: "52-54-00-AB-CD-EF",
        serverUrl: "http://10.0.0.1:8080/",
      }),
    );
    expect([ctx.hostname, ctx.domain, ctx.mac, ctx.serverUrl]).toEqual([
      "web-1",
      "lab.internal",
      "52:54:00:ab:cd:ef",
      "http://10.0.0.1:8080",
    ]);
    expect([ctx.timezone, ctx.locale, ctx.adminUser]).toEqual(["Etc/UTC", "en_US.UTF-8", "lab"]);
    expect(ctx.sshAuthorizedKeys).toEqual(SAMPLE_KEYS);
  });

  const BAD: [string, Partial<InstallContext>][] = [
    ["hostname with a shell separator", { hostname: "web;reboot" }],
    ["hostname with a space", { hostname: "web 1" }],
    ["hostname too long", { hostname: "a".repeat(64) }],
    ["domain label with underscore", { domain: "lab_internal" }],
    ["mac with six groups missing", { mac: "52:54:00:12:34" }],
    ["server URL with a quote", { serverUrl: "http://10.0.0.1/'x" }],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
    ["server URL with iPXE expansion", { serverUrl: "http://${next-server}/" }],
    ["server URL with credentials", { serverUrl: "http://u:p@10.0.0.1" }],
    ["server URL not http", { serverUrl: "ftp://10.0.0.1" }],
    ["install token with a slash", { installToken: "abc/def/ghi/jkl/mno" }],
    ["install token too short", { installToken: "short" }],
    ["join token with a space", { joinToken: "labj_abc def ghi" }],
    ["ssh key of an unknown type", { sshAuthorizedKeys: ["ssh-dss AAAAB3NzaC1kc3MAAACBAP"] }],
    [
      "ssh key whose blob names another type",
      { sshAuthorizedKeys: [`ssh-rsa ${(SAMPLE_KEYS[0] as string).split(" ")[1]}`] },
    ],
    ["ssh key comment with a backtick", { sshAuthorizedKeys: [`${SAMPLE_KEYS[0]} \`id\``] }],
    ["syslog port out of range", { syslog: { host: "10.0.0.1", port: 70000 } }],
    ["console with a space", { console: "ttyS0 init=/bin/sh" }],
    ["disk outside /dev", { disk: "/etc/passwd" }],
    ["disk with ..", { disk: "/dev/../etc/shadow" }],
    ["preserve /boot", { preserve: ["/boot"] }],
    ["timezone with ..", { timezone: "../../etc/passwd" }],
    ["locale with a quote", { locale: "en_US'" }],
    ["admin user root", { adminUser: "root" }],
    ["agent URL with a semicolon", { agentInstallUrl: "http://10.0.0.1/a.sh;reboot" }],
    [
      "image cmdline with iPXE expansion",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell/iPXE syntax, not a template
      { image: { ...SAMPLE_IMAGES.ubuntu, cmdline: "quiet ${foo}" } as never },
    ],
    [
      "image cmdline with a lone separator",
      { image: { ...SAMPLE_IMAGES.ubuntu, cmdline: "quiet || shell" } as never },
    ],
    ["image cmdline with a comment", { image: { ...SAMPLE_IMAGES.ubuntu, cmdline: "quiet #x" } as never }],
    [
      "image kernel path escaping",
      { image: { ...SAMPLE_IMAGES.ubuntu, kernel: "../../etc/passwd" } as never },
    ],
    ["image name with a slash", { image: { ...SAMPLE_IMAGES.ubuntu, name: "a/b" } as never }],
    ["image format unknown", { image: { ...SAMPLE_IMAGES.ubuntu, format: "wim" } as never }],
  ];
  for (const [name, over] of BAD) {
    it(`refuses ${name}`, () => {
      let err: unknown;
      try {
        checkInstallContext(sampleContext(ubuntu, over));
      } catch (e) {
        err = e;
      }
      expect(isLabError(err) && err.code).toBe("LAB_E_INSTALL_BAD_VALUE");
    });
  }

  it("never puts the install token into an error message", () => {
    try {
      checkInstallContext(sampleContext(ubuntu, { installToken: "secret!token!value!!" }));
    } catch (e) {
      expect((e as Error).message).not.toContain("secret");
    }
  });
});

describe("Lab's built-in images", () => {
  for (const [name, spec] of Object.entries(BUILTIN_IMAGES)) {
    it(`${name} passes the checks and renders its boot files`, () => {
      const image = { ...spec, name } as never;
      const ctx = checkInstallContext(sampleContext(image));
      expect(ctx.image.name).toBe(name);
    });
  }
});

describe("URLs", () => {
  it("per-machine files follow the contract", () => {
    expect(
      machineFileUrl({ serverUrl: "http://s:1", mac: "52:54:00:12:34:56", installToken: "T" }, "ks.cfg"),
    ).toBe("http://s:1/pxe/v1/machines/52:54:00:12:34:56/T/ks.cfg");
  });
  it("image files: URLs as they are, names under /pxe/v1/images/<image>/", () => {
    const img = SAMPLE_IMAGES.rocky as never;
    expect(imageFileUrl("http://s:1", img, "images/pxeboot/vmlinuz")).toBe(
      "http://s:1/pxe/v1/images/rocky-9/images/pxeboot/vmlinuz",
    );
    expect(imageFileUrl("http://s:1", img, "https://x/y")).toBe("https://x/y");
  });
});
