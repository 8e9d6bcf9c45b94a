/**
 * `lab onboard NAME --provider ssh`: a machine that already runs Linux. Lab connects over SSH,
 * detects the hardware in one round trip, suggests labels from the model's `label_rules:`,
 * creates the server, then installs the agent and enrols it with a one-time join token.
 */
import { type Hardware, LabError } from "@lab/core";
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
import { applyServer } from "./onboard-server.js";

export interface SshOnboardOptions {
  host: string;
  user: string;
  port: number;
  identityFile?: string;
  labels?: string[];
  environment?: string;
  yes?: boolean;
  /** Install and enrol the agent (needs a Lab server the machine can reach). */
  agent: boolean;
  domain: string;
}

export interface SshOnboardDeps {
  session: Session;
  out: Style;
  print: (s: string) => void;
  ask: (q: string) => Promise<string>;
  interactive: boolean;
  /** Installs and enrols the agent over the open SSH session (the agent command's part). */
  installAgent?: (ssh: SshSession, name: string, step: (line: string) => void) => Promise<void>;
}

/** Runs the whole flow; returns the labels assigned. */
export async function onboardSsh(name: string, o: SshOnboardOptions, d: SshOnboardDeps): Promise<string[]> {
  const { out, print } = d;
  const step = (line: string) => print(`  → ${line}\n`);
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
    print(
      `Host key: ${ssh.hostKeyFingerprint}\nOnboarding will:\n${o.agent ? "  + Install lab agent\n  + Generate one-time enrollment token\n" : ""}  + Register in DNS: ${name}.${o.domain} (if lab server runs with --dns-update)\n  + Sign the SSH host key (no more trust-on-first-use)\n  + Assign labels (${d.interactive && !o.labels ? "interactive" : "--labels"})\n`,
    );
    if (!o.yes) {
      const answer = (await d.ask("Proceed? [y/N]: ")).trim().toLowerCase();
      if (answer !== "y" && answer !== "yes") {
        print("Nothing changed.\n");
        return [];
      }
    }

    print(`${out.bold("Step 2: Detect & assign labels")}\nDetected hardware:\n${hardwareLines(hw)}`);
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

    print(`${out.bold("Step 3: Apply")} (same engine as lab apply)\n`);
    const result = await applyServer(d.session.engine, name, {
      provider: "ssh",
      host: o.host,
      labels,
      ...(o.environment ? { environment: o.environment } : {}),
    });
    step(
      `server ${name} ${result.changes.length ? "created" : "unchanged"} with labels [${labels.join(", ")}]`,
    );
    if (o.agent) {
      if (!d.installAgent)
        throw new LabError("LAB_E_USAGE", "installing the agent needs a Lab server: `lab login` first");
      step(`SSH into ${o.host}`);
      await d.installAgent(ssh, name, step);
    }
    print(`${out.green("✓")} ${name} onboarded\n`);
    return labels;
  } finally {
    ssh.close();
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
