/**
 * What the TUI reads and does, whichever side answers. The CLI builds one from its session:
 * local mode wraps the embedded engine and the local provisioner, client mode the HTTP engine
 * and the server's API. Views only ever see this interface.
 */
import type { ApplyResult, AuditEvent, Engine } from "@lab/core";

/** A network-booted machine (the provisioning lifecycle), as `lab provision list` shows it. */
export interface MachineRow {
  mac: string;
  name: string | null;
  state: string;
  reason: string | null;
  image: string | null;
  /** The install's last progress stage (booted, partitioning, installing, configuring, complete). */
  stage: string | null;
  ip: string | null;
  debug: boolean;
  updatedAt: string;
}

/** One step of a machine's boot timeline. */
export interface TimelineRow {
  id: number;
  time: string;
  kind: string;
  type: string;
  detail: Record<string, unknown>;
  sincePreviousMs: number;
  sinceStartMs: number;
}

/** One line of the server's log pipeline (GET /api/v1/logs). */
export interface LogLine {
  seq: number;
  time: string;
  node: string | null;
  service: string | null;
  source: string;
  level: string;
  message: string;
}

export interface LogPage {
  events: LogLine[];
  /** Lines the server's ring dropped before we read them. */
  missed: number;
  last: number;
}

export type MachineVerb = "install" | "reprovision" | "debug";

export type PowerVerb = "on" | "off" | "cycle";

/** A server's power as its controller answered just now (`lab power status`). */
export interface PowerLine {
  name: string;
  driver: string | null;
  /** `not configured` without `power:`; `error` when the controller did not answer. */
  state: string;
  detail: string;
  nextBoot: string | null;
  error: { code: string; message: string } | null;
}

/** The state of the link that tells the TUI something changed. */
export type LinkState = "connecting" | "live" | "polling" | "reconnecting" | "stopped";

export interface ChangeFeed {
  /** Calls `onChange` for every change (an audit event, or null when only "something changed"). */
  subscribe(onChange: (event: AuditEvent | null) => void, onLink: (state: LinkState) => void): () => void;
}

export interface TuiSource {
  readonly mode: "local" | "client";
  /** The server URL, or the local state file. */
  readonly where: string;
  readonly engine: Engine;
  readonly feed: ChangeFeed;
  machines(): Promise<MachineRow[]>;
  timeline(machine: string, after?: number): Promise<TimelineRow[]>;
  installLog(machine: string, tail: number): Promise<string[]>;
  machineAction(verb: MachineVerb, machine: string): Promise<MachineRow>;
  /** Throws a LabError with what to do when logs are not collected (local mode). */
  logs(q: { after?: number; node?: string; limit?: number }): Promise<LogPage>;
  /** Runs a shell command through the machine's agent; output is stdout and stderr together. */
  exec(server: string, command: string): Promise<{ code: number; output: string }>;
  /** Asks the server's power controller now. */
  power(server: string): Promise<PowerLine>;
  powerAction(server: string, verb: PowerVerb): Promise<PowerLine>;
  /** `lab apply -f PATH`: a file or directory. */
  apply(path: string): Promise<ApplyResult>;
}
