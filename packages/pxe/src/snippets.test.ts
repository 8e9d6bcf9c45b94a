import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { dnsmasqSnippet, iscDhcpSnippet } from "./snippets.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "lab-snippets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const o = { bootHost: "192.168.1.10", bootPort: 7480, tftpHost: "192.168.1.10" };

describe("DHCP snippets for DHCP mode off", () => {
  it("the dnsmasq snippet is accepted by dnsmasq --test (apt-get install dnsmasq-base)", async () => {
    const file = join(dir, "dnsmasq.conf");
    writeFileSync(file, `port=0\n${dnsmasqSnippet(o)}`);
    const { stderr } = await run("dnsmasq", ["--test", "-C", file]);
    expect(stderr).toMatch(/syntax check OK/);
    expect(dnsmasqSnippet(o)).toContain("dhcp-boot=tag:ipxe,http://192.168.1.10:7480/boot.ipxe");
  });

  it("the ISC snippet is accepted by dhcpd -t (apt-get install isc-dhcp-server)", async () => {
    const file = join(dir, "dhcpd.conf");
    writeFileSync(
      file,
      `${iscDhcpSnippet(o)}subnet 192.168.1.0 netmask 255.255.255.0 { range 192.168.1.100 192.168.1.200; }\n`,
    );
    const result = await run("dhcpd", ["-t", "-4", "-cf", file]).catch(
      (e: { stderr: string; code: number }) => e,
    );
    expect(result.stderr).not.toMatch(/Configuration file errors/i);
    expect("code" in result ? result.code : 0).toBe(0);
  });
});
