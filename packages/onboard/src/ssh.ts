/**
 * An SSH session for onboarding, over ssh2 (no ssh binary needed). Connecting reports the
 * server's host key fingerprint as `ssh-keygen -l` prints it (SHA256:…) for trust-on-first-use,
 * or checks it against a pinned one. Failures become LabErrors a user can act on: unreachable,
 * key refused, host key mismatch. Command output is bounded; uploads go over SFTP and fall back
 * to `cat > file` when the server has no SFTP subsystem.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { LabError } from "@lab/core";
import ssh2, {
  type ClientChannel,
  type ConnectConfig,
  type SFTPWrapper,
  type Client as SshClient,
} from "ssh2";

// ssh2 is CommonJS: its named exports exist only on the default export under Node's ESM.
const { Client, utils } = ssh2;

export interface SshConnectOptions {
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** Private key text (OpenSSH or PEM). Never logged or put in messages. */
  privateKey?: string | Buffer;
  /** Path of a private key file (used when `privateKey` is not given). */
  identityFile?: string;
  passphrase?: string;
  /** ssh-agent socket path, or true for $SSH_AUTH_SOCK. */
  agent?: string | boolean;
  /** Pinned host key (SHA256:… as `ssh-keygen -lf` prints); a different key is refused. */
  knownHostKeyFingerprint?: string;
  /** Limit for TCP connect, handshake and authentication together. Default 15 s. */
  timeoutMs?: number;
}

export interface ExecOptions {
  stdin?: string | Buffer | Readable;
  /** Sees all output as it arrives, also past `maxOutputBytes`. */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /**
   * Default: no limit. On expiry LAB_E_SSH_COMMAND is thrown at once and the channel closed;
   * the remote process may run on where the server ignores the KILL request (OpenSSH does),
   * so wrap long commands in `timeout` on the remote side when they must stop.
   */
  timeoutMs?: number;
  /** Bytes kept of each of stdout and stderr (the start); default 16 MiB. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; -1 when the command was killed by a signal (see `signal`). */
  code: number;
  signal?: string;
  /** True when stdout or stderr went over `maxOutputBytes` and was cut. */
  truncated: boolean;
}

export interface UploadResult {
  method: "sftp" | "exec";
  bytes: number;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** SHA256 fingerprint of an SSH public key blob, as `ssh-keygen -l` prints it. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The user's own key, as ssh would pick it: ~/.ssh/id_ed25519, then id_ecdsa, then id_rsa. */
export function defaultIdentityFile(home: string = homedir()): string | undefined {
  for (const f of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    const path = join(home, ".ssh", f);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** Single-quotes a string for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads and parses the private key; its text never reaches an error message. */
async function loadKey(
  opts: SshConnectOptions,
): Promise<{ key?: Buffer; fingerprint?: string; source: string }> {
  let key: Buffer | undefined;
  let source = "the given key";
  if (opts.privateKey !== undefined) key = Buffer.from(opts.privateKey);
  else if (opts.identityFile) {
    source = opts.identityFile;
    try {
      key = await readFile(opts.identityFile);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw new LabError("LAB_E_SSH_KEY", `cannot read identity file ${opts.identityFile} (${code})`);
    }
  }
  if (!key) return { source };
  const parsed = utils.parseKey(key, opts.passphrase);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    const why = first instanceof Error ? first.message : "no key found";
    // ssh2's messages name the problem (encrypted without passphrase, unsupported type), not the key.
    throw new LabError("LAB_E_SSH_KEY", `${source} is not a usable private key: ${why}`);
  }
  if (!first.isPrivateKey())
    throw new LabError("LAB_E_SSH_KEY", `${source} holds a public key, not a private key`);
  return { key, fingerprint: fingerprintOf(first.getPublicSSH()), source };
}

/** Maps an ssh2 connection error to a LabError. */
function connectError(
  e: Error & { level?: string; code?: string },
  where: string,
  ctx: { hostKeyRejected?: string; keyInfo: string; timeoutMs: number; agentProblem?: string },
): LabError {
  if (ctx.hostKeyRejected) return new LabError("LAB_E_SSH_HOST_KEY", ctx.hostKeyRejected);
  switch (e.level) {
    case "client-authentication": {
      const agent = ctx.agentProblem ? ` (ssh-agent could not be used: ${ctx.agentProblem})` : "";
      return new LabError("LAB_E_SSH_AUTH", `${where} did not accept ${ctx.keyInfo}${agent}`);
    }
    case "client-timeout":
      return new LabError("LAB_E_SSH_UNREACHABLE", `no SSH answer from ${where} within ${ctx.timeoutMs} ms`);
    case "client-dns":
      return new LabError("LAB_E_SSH_UNREACHABLE", `cannot resolve the address of ${where}`);
    case "client-socket": {
      const what =
        e.code === "ECONNREFUSED"
          ? "connection refused"
          : e.code === "ENOTFOUND" || e.code === "EAI_AGAIN"
            ? "host name not found"
            : e.code === "EHOSTUNREACH" || e.code === "ENETUNREACH"
              ? "no route to host"
              : e.code === "ECONNRESET"
                ? "connection reset (is it an SSH server?)"
                : (e.code ?? e.message);
      return new LabError("LAB_E_SSH_UNREACHABLE", `cannot connect to ${where}: ${what}`);
    }
    default:
      return new LabError("LAB_E_SSH_UNREACHABLE", `SSH handshake with ${where} failed: ${e.message}`);
  }
}

/** One authenticated SSH connection. */
export class SshSession {
  private closed = false;
  private lostReason: string | undefined;

  private constructor(
    private readonly client: SshClient,
    /** The server's host key fingerprint (SHA256:…), to show for trust-on-first-use. */
    readonly hostKeyFingerprint: string,
    /** user@host:port, for messages. */
    readonly where: string,
  ) {
    client.on("error", (e) => {
      this.lostReason ??= message(e);
    });
    client.on("close", () => {
      this.closed = true;
      this.lostReason ??= "connection closed";
    });
  }

  /** Connects and authenticates; throws LAB_E_SSH_* LabErrors. */
  static async connect(opts: SshConnectOptions): Promise<SshSession> {
    const port = opts.port ?? 22;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    const where = `${opts.user}@${opts.host}:${port}`;
    const pinned = opts.knownHostKeyFingerprint?.trim();
    const pinnedFp = pinned && !pinned.startsWith("SHA256:") ? `SHA256:${pinned}` : pinned;
    if (pinnedFp && !FINGERPRINT.test(pinnedFp.replace(/=+$/, ""))) {
      throw new LabError(
        "LAB_E_USAGE",
        "the pinned host key must be a SHA256:… fingerprint as `ssh-keygen -lf` prints it",
      );
    }
    const { key, fingerprint, source } = await loadKey(opts);
    const agent = opts.agent === true ? process.env.SSH_AUTH_SOCK : opts.agent || undefined;
    if (!key && !agent) {
      throw new LabError(
        "LAB_E_SSH_KEY",
        "no private key and no ssh-agent: pass --identity-file or run ssh-agent",
      );
    }
    const keyInfo = [key ? `the key ${fingerprint} (${source})` : "", agent ? "the keys in ssh-agent" : ""]
      .filter(Boolean)
      .join(" or ");

    const client = new Client();
    let hostFp = "";
    let hostKeyRejected: string | undefined;
    const config: ConnectConfig = {
      host: opts.host,
      port,
      username: opts.user,
      readyTimeout: timeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      hostVerifier: (blob: Buffer) => {
        hostFp = fingerprintOf(blob);
        if (pinnedFp && hostFp !== pinnedFp.replace(/=+$/, "")) {
          hostKeyRejected = `the host key of ${opts.host}:${port} is ${hostFp}, not the pinned ${pinnedFp}`;
          return false;
        }
        return true;
      },
      ...(key ? { privateKey: key } : {}),
      ...(key && opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
      ...(agent ? { agent } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: LabError) => {
        if (settled) return;
        settled = true;
        client.removeAllListeners();
        client.on("error", () => undefined);
        client.end();
        reject(err);
      };
      client.once("ready", () => {
        settled = true;
        client.removeAllListeners();
        resolve();
      });
      let agentProblem: string | undefined;
      client.on("error", (e: Error & { level?: string }) => {
        // ssh2 reports an unusable agent and goes on with the next method: decide at the end.
        if (e.level === "agent") agentProblem ??= e.message;
        else fail(connectError(e, where, { hostKeyRejected, keyInfo, timeoutMs, agentProblem }));
      });
      client.on("close", () =>
        fail(
          hostKeyRejected
            ? new LabError("LAB_E_SSH_HOST_KEY", hostKeyRejected)
            : new LabError(
                "LAB_E_SSH_UNREACHABLE",
                `${where} closed the connection during the SSH handshake`,
              ),
        ),
      );
      try {
        client.connect(config);
      } catch (e) {
        fail(new LabError("LAB_E_SSH_UNREACHABLE", `cannot connect to ${where}: ${message(e)}`));
      }
    });
    return new SshSession(client, hostFp, where);
  }

  private ensureOpen(): void {
    if (this.closed)
      throw new LabError(
        "LAB_E_SSH_COMMAND",
        `the SSH connection to ${this.where} is closed (${this.lostReason})`,
      );
  }

  /** Runs a command (through the user's login shell, as ssh does) and collects bounded output. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.ensureOpen();
    const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) {
          reject(
            new LabError("LAB_E_SSH_COMMAND", `cannot start a command on ${this.where}: ${err.message}`),
          );
          return;
        }
        const out = new Collector(max, opts.onStdout);
        const errs = new Collector(max, opts.onStderr);
        let code: number | undefined;
        let signal: string | undefined;
        let settled = false;
        // OpenSSH keeps a channel open until its process exits, so a timed-out command is
        // answered at once; the KILL signal request ends it on servers that honour it.
        const timer =
          opts.timeoutMs !== undefined
            ? setTimeout(() => {
                settled = true;
                reject(
                  new LabError(
                    "LAB_E_SSH_COMMAND",
                    `command on ${this.where} timed out after ${opts.timeoutMs} ms`,
                  ),
                );
                stream.signal("KILL");
                stream.close();
              }, opts.timeoutMs)
            : undefined;
        stream.on("data", (c: Buffer) => out.add(c));
        stream.stderr.on("data", (c: Buffer) => errs.add(c));
        stream.on("exit", (c: number | null, sig?: string) => {
          if (typeof c === "number") code = c;
          else {
            code = -1;
            signal = sig;
          }
        });
        stream.on("error", () => undefined);
        stream.on("close", () => {
          if (timer) clearTimeout(timer);
          if (settled) return;
          settled = true;
          if (code === undefined) {
            reject(
              new LabError(
                "LAB_E_SSH_COMMAND",
                `the command on ${this.where} ended without an exit status (${this.lostReason ?? "channel closed"})`,
              ),
            );
          } else {
            resolve({
              stdout: out.text(),
              stderr: errs.text(),
              code,
              ...(signal ? { signal } : {}),
              truncated: out.truncated || errs.truncated,
            });
          }
        });
        feed(stream, opts.stdin);
      });
    });
  }

  /**
   * Writes `data` (a Buffer, or the path of a local file) to `remotePath` with `mode`: into a
   * temporary name first, then renamed over the target, so a running binary is replaced whole.
   */
  async upload(data: Buffer | string, remotePath: string, mode = 0o644): Promise<UploadResult> {
    this.ensureOpen();
    const bytes = typeof data === "string" ? await localSize(data) : data.length;
    const tmp = `${remotePath}.lab-upload-${randomBytes(4).toString("hex")}`;
    const sftp = await this.openSftp();
    if (!sftp) {
      const cmd =
        `umask 077; t=${shellQuote(tmp)}; cat > "$t" && chmod ${(mode & 0o7777).toString(8)} "$t" && ` +
        `mv -f "$t" ${shellQuote(remotePath)} || { rc=$?; rm -f "$t"; exit $rc; }`;
      const stdin = typeof data === "string" ? createReadStream(data) : data;
      const r = await this.exec(cmd, { stdin, maxOutputBytes: 64 * 1024 });
      if (r.code !== 0) {
        throw new LabError(
          "LAB_E_SSH_UPLOAD",
          `upload to ${this.where}:${remotePath} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
        );
      }
      return { method: "exec", bytes };
    }
    try {
      await sftpWrite(sftp, data, tmp, mode);
      await sftpCall((cb) => sftp.chmod(tmp, mode & 0o7777, cb));
      await sftpRename(sftp, tmp, remotePath);
      return { method: "sftp", bytes };
    } catch (e) {
      await sftpCall((cb) => sftp.unlink(tmp, cb)).catch(() => undefined);
      throw new LabError("LAB_E_SSH_UPLOAD", `upload to ${this.where}:${remotePath} failed: ${message(e)}`);
    } finally {
      sftp.end();
    }
  }

  /** The SFTP subsystem, or undefined when the server has none. */
  private openSftp(): Promise<SFTPWrapper | undefined> {
    return new Promise((resolve) => {
      this.client.sftp((err, sftp) => resolve(err ? undefined : sftp));
    });
  }

  /** Ends the connection; safe to call twice. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 2000);
      this.client.once("close", () => {
        clearTimeout(t);
        resolve();
      });
      this.client.end();
    });
  }
}

/** A `RunScript` for `detectHardware`: the script goes to `sh -s` on stdin. */
export function scriptRunner(session: SshSession, timeoutMs = 120_000) {
  return (script: string) =>
    session.exec("sh -s", { stdin: script, timeoutMs, maxOutputBytes: 8 * 1024 * 1024 });
}

/** Keeps the first `max` bytes of a stream; decodes UTF-8 across chunk boundaries for callbacks. */
class Collector {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  private readonly decoder = new StringDecoder("utf8");

  constructor(
    private readonly max: number,
    private readonly onChunk?: (s: string) => void,
  ) {}

  add(chunk: Buffer): void {
    if (this.onChunk) this.onChunk(this.decoder.write(chunk));
    const room = this.max - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part !== chunk) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function feed(stream: ClientChannel, stdin: ExecOptions["stdin"]): void {
  if (stdin === undefined) stream.end();
  else if (typeof stdin === "string" || Buffer.isBuffer(stdin)) stream.end(stdin);
  else {
    stdin.on("error", () => stream.close());
    stdin.pipe(stream);
  }
}

async function localSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw new LabError(
      "LAB_E_FILE_NOT_FOUND",
      `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
}

function sftpCall(fn: (cb: (err: Error | null | undefined) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

function sftpWrite(sftp: SFTPWrapper, data: Buffer | string, tmp: string, mode: number): Promise<void> {
  if (typeof data === "string") return sftpCall((cb) => sftp.fastPut(data, tmp, { mode: 0o600 }, cb));
  return sftpCall((cb) => sftp.writeFile(tmp, data, { mode: mode & 0o7777 & 0o700 }, cb));
}

/** Renames over an existing file: OpenSSH's posix-rename when offered, else unlink then rename. */
async function sftpRename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await sftpCall((cb) => sftp.ext_openssh_rename(from, to, cb));
    return;
  } catch {
    // Not an OpenSSH server (or the extension is missing): plain SFTP rename refuses to replace.
  }
  await sftpCall((cb) => sftp.unlink(to, cb)).catch(() => undefined);
  await sftpCall((cb) => sftp.rename(from, to, cb));
}
