import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLabError } from "@lab/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadState, prepareStateDir, saveCertificate, saveHostCertificates, saveKey } from "./state.js";

let dir: string;
beforeEach(() => {
  dir = join(mkdtempSync(join(tmpdir(), "lab-agent-state-")), "state");
});
afterEach(() => rmSync(join(dir, ".."), { recursive: true, force: true }));

const info = {
  name: "web-1",
  server: "https://lab:7443",
  channelUrl: "wss://lab:7444/agent/v1",
  serial: "4A",
  notAfter: "2026-03-02T10:00:00.000Z",
  renewAfter: "2026-03-01T20:00:00.000Z",
  maxOfflineDays: 90,
  enrolledAt: "2026-03-01T10:00:00.000Z",
  renewedAt: null,
};

describe("the state dir", () => {
  it("is 0700 with a 0600 key, and round-trips", () => {
    prepareStateDir(dir);
    expect(loadState(dir)).toBeUndefined();
    saveKey(dir, "KEY");
    expect(loadState(dir)).toBeUndefined(); // a key alone is not an enrolment
    saveCertificate(dir, { info, certPem: "CERT", caPem: "CA" });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "key.pem")).mode & 0o777).toBe(0o600);
    expect(loadState(dir)).toEqual({ info, keyPem: "KEY", certPem: "CERT", caPem: "CA" });
  });

  it("a damaged agent.json is a LAB_E_AGENT_STATE error that names the file", () => {
    prepareStateDir(dir);
    saveKey(dir, "KEY");
    saveCertificate(dir, { info, certPem: "CERT", caPem: "CA" });
    writeFileSync(join(dir, "agent.json"), "{not json");
    try {
      loadState(dir);
      expect.unreachable();
    } catch (e) {
      expect(isLabError(e) && e.code).toBe("LAB_E_AGENT_STATE");
      expect((e as Error).message).toContain("agent.json");
    }
  });

  it("writes host certificates by key type", () => {
    prepareStateDir(dir);
    const files = saveHostCertificates(dir, [
      "ssh-ed25519-cert-v01@openssh.com AAAA web-1",
      "ecdsa-sha2-nistp256-cert-v01@openssh.com BBBB web-1",
      "garbage",
    ]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([
      "ssh/ed25519-cert.pub",
      "ssh/ecdsa-nistp256-cert.pub",
    ]);
    expect(readFileSync(files[0] as string, "utf8")).toBe("ssh-ed25519-cert-v01@openssh.com AAAA web-1\n");
  });
});
