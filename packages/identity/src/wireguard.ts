/**
 * Phone home for a lab on a network it does not control: a WireGuard pair in which the lab dials
 * out to a hub (a VPS, a home server) whenever it has a network, and the hub reaches Lab's API —
 * and, with `lan`, the lab's own network — back through the tunnel. The hub needs no way in:
 * it has no Endpoint for the lab; the lab's PersistentKeepalive keeps the NAT mapping open.
 *
 * Keys are Curve25519 as WireGuard uses them (32 bytes, base64), made with node:crypto's X25519.
 * The files are wg-quick(8) format: `wg-quick up ./lab.conf` on the lab, `lab-hub.conf` on the hub.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { writeSecret } from "./files.js";

export interface WgKeyPair {
  privateKey: string;
  publicKey: string;
}

/** PKCS#8 DER prefix of an X25519 private key (RFC 8410): the 32 key bytes follow. */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

export function wgKeyPair(): WgKeyPair {
  const { privateKey } = generateKeyPairSync("x25519");
  const raw = privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32);
  const priv = raw.toString("base64");
  return { privateKey: priv, publicKey: wgPublicKey(priv) };
}

/** The public key of a WireGuard private key (what `wg pubkey` prints). */
export function wgPublicKey(privateKey: string): string {
  const raw = Buffer.from(privateKey, "base64");
  if (raw.length !== 32) throw new LabError("LAB_E_USAGE", "a WireGuard key is 32 bytes of base64");
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  return createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
}

export interface RemoteAccessOptions {
  /** Where the lab dials: the hub's public name or address and UDP port ("vpn.example.net:51820"). */
  hubEndpoint: string;
  /** The tunnel's own network; the hub is its first address, the lab its second. */
  network: string;
  hub: WgKeyPair;
  lab: WgKeyPair;
  /** The lab's LAN(s) the hub may reach through the lab (the lab forwards them). */
  lan?: string[];
  /** Seconds between the lab's keepalives (keeps NAT mappings open; WireGuard's advice: 25). */
  keepalive?: number;
}

export interface RemoteAccessConfigs {
  /** wg-quick file for the lab (dials out). */
  lab: string;
  /** wg-quick file for the hub (listens). */
  hub: string;
  hubAddress: string;
  labAddress: string;
  hubPort: number;
}

const DEFAULT_PORT = 51820;

/** Parses "host:port", "host" or "[v6]:port"; the port defaults to WireGuard's 51820. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(endpoint.trim());
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!host || port < 1 || port > 65535) {
    throw new LabError(
      "LAB_E_USAGE",
      `hub endpoint "${endpoint}" is not HOST[:PORT] (for example vpn.example.net:51820)`,
    );
  }
  return { host, port };
}

/** An IPv4 CIDR as [address as a number, prefix length]. */
function parseCidr(cidr: string, what: string): [number, number] {
  const [addr, len] = cidr.split("/");
  const prefix = Number(len);
  if (!addr || isIP(addr) !== 4 || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new LabError("LAB_E_USAGE", `${what} "${cidr}" is not an IPv4 network such as 10.77.0.0/24`);
  }
  const n = addr.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  return [n, prefix];
}

const ipv4 = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");

export function remoteAccessConfigs(o: RemoteAccessOptions): RemoteAccessConfigs {
  const { host, port } = parseEndpoint(o.hubEndpoint);
  const [net, prefix] = parseCidr(o.network, "tunnel network");
  if (prefix > 30)
    throw new LabError(
      "LAB_E_USAGE",
      `tunnel network ${o.network} needs room for two addresses (/30 or larger)`,
    );
  const base = net - (net % 2 ** (32 - prefix));
  const hubAddress = ipv4(base + 1);
  const labAddress = ipv4(base + 2);
  const lan = (o.lan ?? []).map((c) => {
    const [n, p] = parseCidr(c, "LAN");
    return `${ipv4(n - (n % 2 ** (32 - p)))}/${p}`;
  });
  const keepalive = o.keepalive ?? 25;
  const endpointHost = host.includes(":") ? `[${host}]` : host;
  const lab = [
    "# The lab's side: dials out to the hub whenever it has a network.",
    "#   wg-quick up ./lab.conf   (or copy to /etc/wireguard/ and enable wg-quick@lab)",
    "[Interface]",
    `Address = ${labAddress}/${prefix}`,
    `PrivateKey = ${o.lab.privateKey}`,
    ...(lan.length
      ? [
          "# The hub reaches the LAN through this machine: forward, and masquerade so LAN hosts",
          "# answer even when this machine is not their gateway.",
          "PostUp = sysctl -q -w net.ipv4.ip_forward=1",
          ...lan.map((c) => `PostUp = iptables -t nat -A POSTROUTING -s ${hubAddress} -d ${c} -j MASQUERADE`),
          ...lan.map(
            (c) => `PostDown = iptables -t nat -D POSTROUTING -s ${hubAddress} -d ${c} -j MASQUERADE`,
          ),
        ]
      : []),
    "",
    "[Peer]",
    "# the hub",
    `PublicKey = ${o.hub.publicKey}`,
    `Endpoint = ${endpointHost}:${port}`,
    `AllowedIPs = ${hubAddress}/32`,
    `PersistentKeepalive = ${keepalive}`,
    "",
  ].join("\n");
  const hub = [
    "# The hub's side: listens; the lab calls in (the hub needs no route to the lab).",
    `#   wg-quick up ./lab-hub.conf   then Lab's API is https://${labAddress}:7443`,
    "[Interface]",
    `Address = ${hubAddress}/${prefix}`,
    `ListenPort = ${port}`,
    `PrivateKey = ${o.hub.privateKey}`,
    "",
    "[Peer]",
    "# the lab",
    `PublicKey = ${o.lab.publicKey}`,
    `AllowedIPs = ${[`${labAddress}/32`, ...lan].join(", ")}`,
    "",
  ].join("\n");
  return { lab, hub, hubAddress, labAddress, hubPort: port };
}

export interface WgPeerStatus {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** Last completed handshake; null: never. */
  latestHandshake: Date | null;
  rxBytes: number;
  txBytes: number;
  keepalive: number | null;
}

export interface WgInterfaceStatus {
  publicKey: string;
  listenPort: number | null;
  peers: WgPeerStatus[];
}

/** Parses `wg show IFACE dump` (tab-separated: the interface line, then one line per peer). */
export function parseWgDump(text: string): WgInterfaceStatus {
  const [first, ...rest] = text
    .trim()
    .split("\n")
    .map((l) => l.split("\t"));
  if (!first || first.length < 4) throw new LabError("LAB_E_USAGE", "not the output of `wg show IFACE dump`");
  const num = (s: string | undefined) => (s && /^\d+$/.test(s) ? Number(s) : null);
  return {
    publicKey: first[1] ?? "",
    listenPort: num(first[2]),
    peers: rest
      .filter((f) => f.length >= 8)
      .map((f) => ({
        publicKey: f[0] ?? "",
        endpoint: f[2] && f[2] !== "(none)" ? f[2] : null,
        allowedIps: f[3] && f[3] !== "(none)" ? f[3].split(",") : [],
        latestHandshake: num(f[4]) ? new Date((num(f[4]) as number) * 1000) : null,
        rxBytes: num(f[5]) ?? 0,
        txBytes: num(f[6]) ?? 0,
        keepalive: f[7] === "off" ? null : num(f[7]),
      })),
  };
}

export interface RemoteAccessFiles extends RemoteAccessConfigs {
  dir: string;
  labFile: string;
  hubFile: string;
  /** Keys were made now (first run, or --rotate); otherwise the stored ones were kept. */
  newKeys: boolean;
}

/**
 * Writes lab.conf and lab-hub.conf into `dir` (0600: they hold private keys). The keys live in
 * `dir/keys.json` and are kept across runs, so changing the endpoint or a LAN does not force a
 * re-key on the hub; `rotate` makes new ones.
 */
export function writeRemoteAccess(
  dir: string,
  o: Omit<RemoteAccessOptions, "hub" | "lab">,
  rotate = false,
): RemoteAccessFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keysPath = join(dir, "keys.json");
  let keys: { hub: WgKeyPair; lab: WgKeyPair } | undefined;
  if (!rotate && existsSync(keysPath)) {
    const stored = JSON.parse(readFileSync(keysPath, "utf8")) as {
      hub?: { privateKey?: string };
      lab?: { privateKey?: string };
    };
    const pair = (k: { privateKey?: string } | undefined) => {
      if (!k?.privateKey)
        throw new LabError("LAB_E_USAGE", `${keysPath} is damaged: move it away and run again (new keys)`);
      return { privateKey: k.privateKey, publicKey: wgPublicKey(k.privateKey) };
    };
    keys = { hub: pair(stored.hub), lab: pair(stored.lab) };
  }
  const newKeys = keys === undefined;
  keys ??= { hub: wgKeyPair(), lab: wgKeyPair() };
  const configs = remoteAccessConfigs({ ...o, ...keys });
  if (newKeys)
    writeSecret(
      keysPath,
      `${JSON.stringify({ hub: { privateKey: keys.hub.privateKey }, lab: { privateKey: keys.lab.privateKey } })}\n`,
    );
  const labFile = join(dir, "lab.conf");
  const hubFile = join(dir, "lab-hub.conf");
  writeSecret(labFile, configs.lab);
  writeSecret(hubFile, configs.hub);
  return { ...configs, dir, labFile, hubFile, newKeys };
}
