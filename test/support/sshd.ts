import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning, killTracked, type Run, runToEnd, spawnTracked } from "./child.js";

export type { Run };

export const SSHD = process.env.LAB_TEST_SSHD || "/usr/sbin/sshd";
export const SSH = process.env.LAB_TEST_SSH || "/usr/bin/ssh";
export const SSH_KEYGEN = process.env.LAB_TEST_SSH_KEYGEN || "/usr/bin/ssh-keygen";

const INSTALL: Record<string, string> = {
  sshd: "apt-get install -y openssh-server",
  ssh: "apt-get install -y openssh-client",
  "ssh-keygen": "apt-get install -y openssh-client",
};

/** The binary's path; throws (the test fails) with the install command when it is missing. */
export function requireSshBinary(path: string): string {
  if (existsSync(path)) return path;
  const name = path.split("/").pop() ?? path;
  throw new Error(`${name} is not installed (looked for ${path}): ${INSTALL[name] ?? `install ${name}`}`);
}

/** Runs a program to completion without blocking the event loop; output is capped at 1 MiB. */
export function run(
  bin: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return runToEnd(bin, args, opts);
}

/** `ssh-keygen ARGS` (TZ=UTC so `-L` prints times in UTC); fails the test if it exits non-zero. */
export async function sshKeygen(args: string[]): Promise<string> {
  const r = await run(requireSshBinary(SSH_KEYGEN), args);
  if (r.code !== 0) throw new Error(`ssh-keygen ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Generates a key pair without passphrase at `path` (`path.pub` holds the public line). */
export async function generateKey(
  path: string,
  type: string,
  bits?: number,
  comment = "lab-test",
): Promise<string> {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  await sshKeygen([
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-N",
    "",
    "-C",
    comment,
    "-f",
    path,
  ]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

import { freePort } from "./child.js";

export { freePort };

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  /** Private key of the client allowed to log in as root. */
  readonly clientKey: string;
  output(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Private host key file; `hostKey.pub` must sit beside it. */
  hostKey: string;
  /** Host certificate file for that key (omit to serve the plain key). */
  hostCertificate?: string;
}

/** Starts sshd on a free loopback port; resolves once it sends its SSH banner. */
export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const bin = requireSshBinary(SSHD);
  // sshd's privilege separation needs this directory; Debian creates it only from systemd.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "lab-sshd-"));
  const clientKey = join(dir, "client_key");
  writeFileSync(join(dir, "authorized_keys"), `${await generateKey(clientKey, "ed25519")}\n`, {
    mode: 0o600,
  });
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${opts.hostKey}`,
        ...(opts.hostCertificate ? [`HostCertificate ${opts.hostCertificate}`] : []),
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    try {
      return await launch(bin, config, port, dir, clientKey);
    } catch (e) {
      lastError = e as Error;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error("sshd did not start");
}

async function launch(
  bin: string,
  config: string,
  port: number,
  dir: string,
  clientKey: string,
): Promise<Sshd> {
  const args = ["-D", "-e", "-f", config];
  const { child, output, stop } = spawnTracked(bin, args, 5000);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!isRunning(child)) throw new Error(`sshd exited before it was ready:\n${output().slice(-4000)}`);
    if (await sendsBanner(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`sshd was not ready within 20 s:\n${output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    dir,
    clientKey,
    output,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether something on the port greets with an SSH-2.0 banner. */
function sendsBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(2000, () => done(false));
    sock.once("error", () => done(false));
    sock.on("data", (d) => {
      got += d.toString("latin1");
      if (got.includes("\n")) done(got.startsWith("SSH-2.0-"));
    });
  });
}

/** Stops every sshd this module started. */
export async function stopAllSshd(): Promise<void> {
  await killTracked();
}

export interface SshConnectOptions {
  port: number;
  clientKey: string;
  /** The only known_hosts file the client reads (the global one is disabled). */
  knownHosts: string;
  /** The name the client checks the host key for (and the certificate's principals against). */
  hostKeyAlias?: string;
}

/**
 * `ssh root@127.0.0.1 true` in batch mode with strict host key checking and no user config:
 * it succeeds only if the host key is trusted through `knownHosts`.
 */
export function sshConnect(o: SshConnectOptions): Promise<Run> {
  return run(requireSshBinary(SSH), [
    "-F",
    "/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${o.knownHosts}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "UpdateHostKeys=no",
    "-o",
    "CheckHostIP=no",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "ConnectTimeout=15",
    ...(o.hostKeyAlias ? ["-o", `HostKeyAlias=${o.hostKeyAlias}`] : []),
    "-i",
    o.clientKey,
    "-p",
    String(o.port),
    "root@127.0.0.1",
    "true",
  ]);
}
