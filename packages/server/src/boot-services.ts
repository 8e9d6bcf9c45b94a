/**
 * The embedded PXE services `lab server --pxe` starts, each switchable: the boot HTTP port
 * (iPXE scripts, install files, kernels), DHCP (proxy / scoped / off), TFTP (iPXE binaries)
 * and syslog (install logs). Every service feeds the same per-MAC boot timeline.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { LabError } from "@lab/core";
import type { SyslogMessage } from "@lab/pxe";
import {
  type BootContext,
  DEFAULT_IPXE_DIR,
  type DhcpMode,
  DhcpServer,
  FileLeaseStore,
  InstallLogBuffer,
  IPXE_FILES,
  interfaceAddress,
  type Provisioner,
  SyslogListener,
  serveFile,
  TftpServer,
} from "@lab/pxe";
import Fastify, { type FastifyInstance } from "fastify";
import { registerBootRoutes } from "./provision-routes.js";
import { errorBody, errorHandler } from "./routes.js";
import { TalosPusher } from "./talos-push.js";

export interface PxeOptions {
  /** The interface on the machines' L2 segment; its IPv4 address is what machines reach. */
  interface?: string;
  /** The address machines reach Lab on (default: the interface's address). */
  advertise?: string;
  /** Plain-HTTP port for /boot.ipxe and /pxe/v1 (firmware cannot trust Lab's CA). */
  bootPort?: number;
  dhcp: {
    mode: DhcpMode;
    /** Scoped mode: addresses for known machines without a reservation. */
    pool?: { start: string; end: string };
    router?: string;
    dns?: string[];
    port?: number;
    proxyPort?: number;
  };
  /** Offer the discovery image to machines Lab does not know. */
  discover: boolean;
  tftp: { enabled: boolean; port?: number };
  syslog: { enabled: boolean; port?: number };
  /** Where the iPXE binaries are (Debian's `ipxe` package: /usr/lib/ipxe). */
  ipxeDir?: string;
  /** SSH keys put into every installed system. */
  sshAuthorizedKeys?: string[];
  domain?: string;
  console?: string;
  /** The port Talos nodes' maintenance API answers on (push mode; default 50000). */
  talosPort?: number;
}

export interface BootServices {
  bootUrl: string;
  bootPort: number;
  dhcpPort?: number;
  tftpPort?: number;
  syslogPort?: number;
  logs: InstallLogBuffer;
  close(): Promise<void>;
}

export async function startBootServices(
  o: PxeOptions & {
    home: string;
    provisioner: Provisioner;
    log: (line: string) => void;
    joinToken?: (name: string) => Promise<string>;
    agent?: { dir: string; apiUrl: () => string; caPem: string };
    /** Talos push mode: where machine configs come from (absent: Talos installs fail, saying so). */
    talos?: { machineConfig: (secret: string) => Promise<string> };
    /** Syslog from a sender that is not a booting machine (the log pipeline still wants it). */
    onHostSyslog?: (msg: SyslogMessage, fromAddress: string) => void;
  },
): Promise<BootServices> {
  const p = o.provisioner;
  const log = o.log;
  const where = o.interface ? interfaceAddress(o.interface) : undefined;
  const advertise = o.advertise ?? where?.address ?? firstAddress();
  const pxeDir = join(o.home, "pxe");
  mkdirSync(join(pxeDir, "logs"), { recursive: true });
  const logs = new InstallLogBuffer({ dir: join(pxeDir, "logs"), log });
  const closers: (() => Promise<void>)[] = [async () => logs.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((e) => log(`boot services: ${(e as Error).message}`));
  };

  try {
    // Syslog first: its port goes into every script the boot port serves.
    let syslogPort: number | undefined;
    if (o.syslog.enabled) {
      const syslog = new SyslogListener({
        address: "0.0.0.0",
        port: o.syslog.port ?? 5514,
        log,
        onMessage: (msg, from) => {
          const mac = p.timeline.macOf(from.address);
          if (!mac) {
            o.onHostSyslog?.(msg, from.address);
            return;
          }
          const line = `${msg.app ? `${msg.app}: ` : ""}${msg.message}`;
          logs.append(mac, line);
          p.timeline.record(mac, "syslog", msg.app ?? "log", { message: line.slice(0, 500) });
        },
      });
      syslogPort = (await syslog.start()).port;
      closers.push(() => syslog.close());
    }

    const bootApp: FastifyInstance = Fastify({
      logger: false,
      bodyLimit: 4 * 1024 * 1024,
      forceCloseConnections: true,
    });
    bootApp.setErrorHandler(errorHandler);
    bootApp.setNotFoundHandler((req, reply) =>
      reply
        .code(404)
        .send(
          errorBody(new LabError("LAB_E_NOT_FOUND", `no boot route ${req.method} ${req.url.split("?")[0]}`)),
        ),
    );
    // Installers post logs as plain text.
    bootApp.addContentTypeParser("text/plain", { parseAs: "string" }, (_req, body, done) => done(null, body));
    const context = (): BootContext => ({
      serverUrl: bootUrl,
      ...(syslogPort ? { syslog: { host: advertise, port: syslogPort } } : {}),
      domain: o.domain ?? "lab.internal",
      sshAuthorizedKeys: o.sshAuthorizedKeys ?? [],
      ...(o.console ? { console: o.console } : {}),
    });
    let bootUrl = "";
    const talos = new TalosPusher({
      provisioner: p,
      context,
      log,
      ...(o.talosPort ? { port: o.talosPort } : {}),
      machineConfig:
        o.talos?.machineConfig ??
        (async (secret) => {
          throw new LabError(
            "LAB_E_TALOS_CONFIG",
            `these boot services cannot read secrets (the machine config is secret ${secret}): install Talos machines from lab server`,
          );
        }),
    });
    closers.push(async () => talos.close());
    registerBootRoutes(bootApp, {
      onInstallDispatch: (d) => talos.dispatched(d),
      provisioner: p,
      logs,
      context,
      imagesDir: join(o.home, "images"),
      ...(o.joinToken ? { joinToken: o.joinToken } : {}),
      ...(o.agent ? { agent: o.agent } : {}),
    });
    // UEFI HTTP boot (no TFTP at all) fetches the iPXE binary itself over HTTP.
    const ipxeDir = o.ipxeDir ?? DEFAULT_IPXE_DIR;
    bootApp.get("/ipxe/:file", async (req, reply) => {
      const file = (req.params as { file: string }).file;
      if (!IPXE_FILES.includes(file)) throw new LabError("LAB_E_NOT_FOUND", `no iPXE binary ${file}`);
      reply.hijack();
      serveFile(req.raw, reply.raw, join(ipxeDir, file));
    });
    await bootApp.listen({ host: "0.0.0.0", port: o.bootPort ?? 7480 });
    const address = bootApp.server.address();
    const bootPort = typeof address === "object" && address ? address.port : (o.bootPort ?? 7480);
    bootUrl = `http://${advertise}:${bootPort}`;
    closers.push(() => bootApp.close());

    let tftpPort: number | undefined;
    if (o.tftp.enabled) {
      const tftp = new TftpServer({
        root: ipxeDir,
        // Debian's iPXE binaries are symlinks into /usr/share: serve exactly these names.
        resolve: (rel) => (IPXE_FILES.includes(rel) ? join(ipxeDir, rel) : undefined),
        port: o.tftp.port ?? 69,
        log,
        onEvent: (e) => {
          const ip = e.client.replace(/^\[|\]?:\d+$/g, "");
          const mac = p.timeline.macOf(ip);
          if (!mac || e.status === "start") return;
          // UEFI firmware asks for the size first, then aborts that transfer itself.
          const probe = e.status === "error" && !e.bytes && e.error?.startsWith("client sent error");
          const what = e.status === "done" ? e.file : probe ? `${e.file} size asked` : `${e.file} failed`;
          p.timeline.record(mac, "tftp", what, {
            ...(e.bytes !== undefined ? { bytes: e.bytes } : {}),
            ...(e.ms !== undefined ? { ms: e.ms } : {}),
            ...(e.blksize ? { blksize: e.blksize } : {}),
            ...(e.error ? { error: e.error } : {}),
          });
        },
      });
      tftpPort = (await tftp.start()).port;
      closers.push(() => tftp.close());
    }

    let dhcpPort: number | undefined;
    if (o.dhcp.mode !== "off") {
      if (!where) {
        throw new LabError(
          "LAB_E_PXE_SETUP",
          "DHCP needs --pxe-interface: the interface on the machines' network",
        );
      }
      await p.refreshKnown();
      const leases =
        o.dhcp.mode === "scoped" ? await FileLeaseStore.open(join(pxeDir, "leases.journal")) : undefined;
      const dhcp = new DhcpServer({
        mode: o.dhcp.mode,
        interface: o.interface,
        ...(o.dhcp.router ? { router: o.dhcp.router } : {}),
        ...(o.dhcp.dns ? { dns: o.dhcp.dns } : {}),
        ...(o.dhcp.pool ? { pool: o.dhcp.pool } : {}),
        ...(leases ? { leases } : {}),
        ...(o.dhcp.port !== undefined ? { port: o.dhcp.port } : {}),
        lookup: (mac) => p.lookup(mac),
        discover: o.discover,
        boot: { httpBase: bootUrl, tftpServer: advertise, httpFilesBase: `${bootUrl}/ipxe` },
        log,
        onEvent: (e) => {
          if (e.ip) p.timeline.learn(e.ip, e.mac);
          const { mac, kind: _kind, type, ...detail } = e;
          p.timeline.record(mac, "dhcp", type, detail);
        },
      });
      await dhcp.start();
      dhcpPort = o.dhcp.port ?? 67;
      closers.push(async () => {
        await dhcp.close();
        await leases?.close();
      });
    }
    log(
      `PXE: boot ${bootUrl}, DHCP ${o.dhcp.mode}${dhcpPort ? ` on ${o.interface}` : ""}, TFTP ${tftpPort ?? "off"} (${ipxeDir}), syslog ${syslogPort ?? "off"}, discovery ${o.discover ? "on" : "off"}`,
    );
    return { bootUrl, bootPort, dhcpPort, tftpPort, syslogPort, logs, close };
  } catch (e) {
    await close();
    throw e;
  }
}

function firstAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

export function readKeys(path: string | undefined): string[] {
  if (!path) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}
