import { describe, expect, it } from "vitest";
import { parseEndpoint, parseWgDump, remoteAccessConfigs, wgKeyPair, wgPublicKey } from "./wireguard.js";

describe("WireGuard phone-home", () => {
  it("derives the public key RFC 7748's X25519 test vector gives", () => {
    // RFC 7748 §6.1: Alice's private key and public key.
    const priv = Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex");
    const pub = Buffer.from("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "hex");
    expect(wgPublicKey(priv.toString("base64"))).toBe(pub.toString("base64"));
    const k = wgKeyPair();
    expect(Buffer.from(k.privateKey, "base64")).toHaveLength(32);
    expect(wgPublicKey(k.privateKey)).toBe(k.publicKey);
  });

  it("parses endpoints, defaulting to 51820", () => {
    expect(parseEndpoint("vpn.example.net")).toEqual({ host: "vpn.example.net", port: 51820 });
    expect(parseEndpoint("[2001:db8::1]:4500")).toEqual({ host: "2001:db8::1", port: 4500 });
    expect(() => parseEndpoint("a:b:c")).toThrow(/HOST\[:PORT\]/);
  });

  it("routes a LAN through the lab: the hub allows it, the lab forwards and masquerades it", () => {
    const c = remoteAccessConfigs({
      hubEndpoint: "hub.example.net",
      network: "10.77.0.9/24",
      lan: ["192.168.1.7/24"],
      hub: wgKeyPair(),
      lab: wgKeyPair(),
    });
    expect([c.hubAddress, c.labAddress]).toEqual(["10.77.0.1", "10.77.0.2"]);
    expect(c.hub).toContain("AllowedIPs = 10.77.0.2/32, 192.168.1.0/24");
    expect(c.lab).toContain("AllowedIPs = 10.77.0.1/32");
    expect(c.lab).toContain("-s 10.77.0.1 -d 192.168.1.0/24 -j MASQUERADE");
    expect(c.lab).toContain("Endpoint = hub.example.net:51820");
  });

  it("reads `wg show IFACE dump`, never inventing a handshake", () => {
    const s = parseWgDump(
      [
        "cHJpdg==\tcHVi\t0\toff",
        "aHVi\t(none)\t10.203.0.1:51820\t10.77.0.1/32\t1765000000\t1240\t980\t25",
        "b3RoZXI=\t(none)\t(none)\t10.77.0.3/32\t0\t0\t0\toff",
      ].join("\n"),
    );
    expect(s.peers[0]).toMatchObject({ endpoint: "10.203.0.1:51820", rxBytes: 1240, keepalive: 25 });
    expect(s.peers[0]?.latestHandshake?.getTime()).toBe(1765000000_000);
    expect(s.peers[1]).toMatchObject({ endpoint: null, latestHandshake: null, keepalive: null });
  });
});
