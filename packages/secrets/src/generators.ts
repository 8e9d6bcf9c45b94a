/**
 * Dynamic secrets: values Lab makes itself. `password` (random, with a length and charset),
 * `command` (the standard output of a command run on the store) and `ca` (a per-machine key
 * and certificate from Lab's CA). Others the design names (acme, kubernetes) are refused with
 * a code until they exist.
 */
import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { LabError, type SecretSpec } from "@lab/core";

const CHARSETS: Record<string, string> = {
  alnum: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  hex: "0123456789abcdef",
  base64url: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
  printable: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%&()*+,-./:;<=>?@[]^_{|}~",
};

export interface GeneratorContext {
  /** Issues a client key + certificate for a machine from Lab's CA (PEM). */
  issueMachineCert?: (machine: string) => Promise<{ keyPem: string; certPem: string }>;
}

export const GENERATORS = ["password", "command", "ca"] as const;

export async function generate(
  name: string,
  spec: SecretSpec,
  ctx: GeneratorContext,
  machine?: string,
): Promise<Uint8Array> {
  const g = spec.generator ?? "password";
  if (g === "password") {
    const chars = CHARSETS[spec.charset ?? "alnum"] as string;
    let out = "";
    // randomInt is uniform: no modulo bias towards the first characters.
    for (let i = 0; i < (spec.length ?? 32); i++) out += chars[randomInt(chars.length)];
    return Buffer.from(out);
  }
  if (g === "command") {
    const [bin, ...args] = spec.command ?? [];
    if (!bin)
      throw new LabError(
        "LAB_E_SECRET_GENERATOR",
        `secret "${name}": generator command needs command: [...]`,
      );
    let out: Buffer;
    try {
      out = execFileSync(bin, args, {
        timeout: 30_000,
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 1024 * 1024,
      });
    } catch (e) {
      // Never the command's output in the message: it may be (part of) the secret.
      throw new LabError(
        "LAB_E_SECRET_GENERATOR",
        `secret "${name}": ${bin} failed (${(e as NodeJS.ErrnoException).code ?? `exit ${(e as { status?: number }).status}`})`,
      );
    }
    const text = out.subarray(0, out.at(-1) === 0x0a ? -1 : undefined);
    if (text.length === 0)
      throw new LabError("LAB_E_SECRET_GENERATOR", `secret "${name}": ${bin} printed nothing`);
    return text;
  }
  if (g === "ca") {
    if (!machine || !ctx.issueMachineCert) {
      throw new LabError(
        "LAB_E_SECRET_GENERATOR",
        `secret "${name}": generator ca is per machine (per_machine: true)`,
      );
    }
    const { keyPem, certPem } = await ctx.issueMachineCert(machine);
    return Buffer.from(`${keyPem.trimEnd()}\n${certPem.trimEnd()}\n`);
  }
  throw new LabError(
    "LAB_E_SECRET_GENERATOR",
    `secret "${name}": generator "${g}" is not available in this Lab (${GENERATORS.join(", ")})`,
  );
}
