/**
 * `lab onboard NAME --provider ssh`, the parts only an existing machine has: Lab connects over
 * SSH, detects the hardware in one round trip and suggests labels from the model's
 * `label_rules:` (render); after the plan is applied, it installs the agent over the same
 * session and enrols it with a one-time join token (enrol). onboard.ts runs the steps between.
 */
import type { Hardware } from "@lab/core";
import {
  defaultIdentityFile,
  defaultLabelRules,
  detectHardware,
  SshSession,
  scriptRunner,
  suggestLabels,
} from "@lab/onboard";
import type { Session } from "../context.js";
import { box } from "../output/box.js";
import type { Style } from "../output/style.js";

export interface SshOnboardOptions {
  host: string;
  user: string;
  port: number;
  identityFile?: string;
  labels?: string[];
  /** Install and enrol the agent (needs a Lab server the machine can reach). */
  agent: boolean;
  domain: string;
}

export interface SshOnboardDeps {
  session: Session;
  out: Style;
  print: (s: string) => void;
  ask: (q: string) => Promise<string>;
  /** A person can answer the label question (a terminal, no --yes). */
  interactive: boolean;
  /** Installs and enrols the agent over the open SSH session (the agent command's part). */
  installAgent?: (ssh: SshSession, name: string, step: (line: string) => void) => Promise<void>;
}

/** What Step 1 found: the labels to assign, and the session the enrol step reuses. */
export interface SshRendered {
  labels: string[];
  hostKey: string;
  /** The enrol part of "Onboarding will:". */
  will: string[];
  /** Installs and enrols the agent over the session rendered from (no-op with --no-agent). */
  enrol(step: (line: string) => void): Promise<void>;
  close(): void;
}

/** Step 1 for ssh: connect, detect, render the box and the label suggestions, settle the labels. */
export async function renderSsh(name: string, o: SshOnboardOptions, d: SshOnboardDeps): Promise<SshRendered> {
  const { out, print } = d;
  const identityFile = o.identityFile ?? defaultIdentityFile();
  const ssh = await SshSession.connect({
    host: o.host,
    port: o.port,
    user: o.user,
    ...(identityFile ? { identityFile } : {}),
    ...(process.env.SSH_AUTH_SOCK ? { agent: true } : {}),
  });
  try {
    const hw = await detectHardware(scriptRunner(ssh));
    const ruleRows = await d.session.engine.list("label_rule");
    const rules = ruleRows.length
      ? ruleRows.map((r) => ({ label: r.label, ...r.spec }))
      : [...defaultLabelRules];
    const suggestions = suggestLabels(hw, rules);
    const defined = new Set(await d.session.engine.names("label"));

    print(`${out.bold("Step 1: Render")}\n${box(renderRows(name, o, hw), out)}\n`);
    print(`Host key: ${ssh.hostKeyFingerprint}\nDetected hardware:\n${hardwareLines(hw)}`);
    for (const s of suggestions) {
      const note = defined.has(s.label) ? "" : out.dim(" (not defined in the model yet)");
      print(`  ${s.reason} → suggesting label: ${s.label}${note}\n`);
    }
    for (const w of hw.warnings) print(`  ${out.yellow("⚠")} ${w}\n`);
    const suggested = suggestions.map((s) => s.label).filter((l) => defined.has(l));
    let labels = o.labels ?? suggested;
    if (!o.labels && d.interactive) {
      const answer = (await d.ask(`Assign labels [${suggested.join(",")}]: `)).trim();
      if (answer)
        labels = answer
          .split(",")
          .map((l) => l.trim())
          .filter(Boolean);
    }
    const installAgent = d.installAgent;
    return {
      labels,
      hostKey: ssh.hostKeyFingerprint,
      // DNS and the host certificate come with the agent's enrolment: without it, neither.
      will: o.agent
        ? [
            "Install lab agent",
            "Generate one-time enrollment token",
            `Register in DNS: ${name}.${o.domain} (if lab server runs with --dns-update)`,
            "Sign the SSH host key (no more trust-on-first-use)",
          ]
        : ["Leave the agent out (--no-agent): no enrolment, DNS record or host certificate"],
      async enrol(step) {
        if (!o.agent || !installAgent) return;
        step(`SSH into ${o.host}`);
        await installAgent(ssh, name, step);
      },
      close: () => ssh.close(),
    };
  } catch (e) {
    ssh.close();
    throw e;
  }
}

function renderRows(name: string, o: SshOnboardOptions, hw: Hardware): [string, string][] {
  const gpu = hw.gpus.length
    ? hw.gpus
        .map((g) => `${g.vendor === "nvidia" ? "CUDA" : g.vendor === "amd" ? "ROCm" : g.vendor} (${g.model})`)
        .join(", ")
    : "none";
  return [
    ["Name", name],
    ["Provider", "ssh (existing machine)"],
    ["Host", o.port === 22 ? o.host : `${o.host}:${o.port}`],
    ["OS", hw.os ? `${hw.os.name} ${hw.os.version ?? ""} (detected)`.replace("  ", " ") : "— (not detected)"],
    ["Arch", hw.arch],
    ["CPU", `${hw.cpu.model} (${hw.cpu.cores} cores)`],
    ["RAM", gb(hw.memoryBytes)],
    ["GPU", gpu],
  ];
}

function hardwareLines(hw: Hardware): string {
  const disks = hw.disks.filter((d) => !d.removable);
  const nics = hw.nics.filter((n) => n.speedMbps);
  return [
    `  CPU: ${hw.cpu.model} (${hw.arch}, ${hw.cpu.cores} cores)`,
    `  RAM: ${gb(hw.memoryBytes)}`,
    ...(hw.gpus.length ? [`  GPU: ${hw.gpus.map((g) => g.model).join(", ")}`] : []),
    ...(disks.length
      ? [`  Disk: ${disks.map((d) => `${d.type} ${(d.sizeBytes / 1e12).toFixed(2)}TB`).join(", ")}`]
      : []),
    ...(nics.length ? [`  NIC: ${nics.map((n) => `${n.name} ${n.speedMbps}Mb/s`).join(", ")}`] : []),
  ]
    .map((l) => `${l}\n`)
    .join("");
}

function gb(bytes: number): string {
  return `${Math.round(bytes / 2 ** 30)}GB`;
}
