/**
 * Where a module's operations run: one machine, reached over SSH (the onboarding's SshSession)
 * or, later, the Lab agent. Operations only ever run shell scripts and upload files, so both
 * transports fit this one narrow interface and tests can hand in a scripted fake.
 */
import type { SshSession } from "@lab/onboard";

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Executor {
  /** The Lab server name of the machine (k3s node name). */
  readonly node: string;
  /** The address Lab reached it at (the k3s node IP when it is an IPv4 literal). */
  readonly address: string;
  /** Runs a POSIX sh script as root. */
  run(script: string, stdin?: string): Promise<ScriptResult>;
  /** Writes bytes to `path` (its directory must exist), replacing it whole, with `mode`. */
  upload(data: Buffer, path: string, mode: number): Promise<void>;
  close(): Promise<void>;
}

/** An Executor over an open SSH session; scripts go through `sh -s` so quoting stays simple. */
export function sshExecutor(ssh: SshSession, node: string, address: string): Executor {
  return {
    node,
    address,
    async run(script, stdin) {
      // The script travels as a quoted argument: stdin stays free for the script's own input.
      const r = await ssh.exec(`sh -c ${quote(script)}`, stdin === undefined ? {} : { stdin });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },
    async upload(data, path, mode) {
      await ssh.upload(data, path, mode);
    },
    close: () => ssh.close(),
  };
}

/** Single-quotes a string for a POSIX shell. */
export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
