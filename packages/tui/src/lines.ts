/**
 * What a screen shows, before any React: a list of lines made of cells with a tone, some of
 * them links to another location. Lists build lines lazily (only the visible ones); detail
 * screens are a few hundred lines at most.
 */
import type { PillarState, Source } from "@lab/core";
import type { Location } from "./nav.js";
import type { Tone } from "./theme.js";

export interface Cell {
  text: string;
  tone?: Tone;
  bold?: boolean;
}

export interface Line {
  cells: Cell[];
  /** Where Enter goes from here; lines without one are not selectable. */
  link?: Location;
  /** Section headings start a pane (Tab moves between them). */
  heading?: boolean;
}

export const cell = (text: string, tone?: Tone, bold?: boolean): Cell => ({ text, tone, bold });

/** A pillar as a glyph: observed states only; "—" when no source has said anything. */
export function pillar(p: PillarState | undefined): Cell {
  if (!p) return cell("—", "muted");
  switch (p.state) {
    case "ok":
      return cell("✓", "ok");
    case "warning":
      return cell("⚠", "warn");
    case "failed":
      return cell("✗", "bad");
    case "pending":
      return cell("…", "warn");
    case "unknown":
      return cell("?", "warn");
    default:
      return cell("—", "muted");
  }
}

/** Where an item came from: `label k8s-worker`, `group production`, `auto`. */
export function provenance(from: Source[]): string {
  return from
    .map((s) => (s.kind === "auto" ? `auto${s.reason ? ` (${s.reason})` : ""}` : `${s.kind} ${s.name}`))
    .join(", ");
}

/** The location a provenance source points at, when it is one the TUI can show. */
export function sourceLink(s: Source | undefined): Location | undefined {
  if (!s) return undefined;
  if (s.kind === "label" || s.kind === "group" || s.kind === "server")
    return { detail: s.kind, name: s.name };
  return undefined;
}

/** Fits text into `width` columns: truncated with "…", padded with spaces. */
export function fit(text: string, width: number): string {
  if (width <= 0) return "";
  const chars = [...text];
  if (chars.length > width) return `${chars.slice(0, Math.max(0, width - 1)).join("")}…`;
  return text + " ".repeat(width - chars.length);
}

const STAGES = ["booted", "partitioning", "installing", "configuring", "complete"];

/** Install progress as a bar: `██▌░░ installing`; null outside an install. */
export function progress(state: string, stage: string | null): Cell | null {
  if (state !== "INSTALLING" && !(state === "INSTALLED" && stage)) return null;
  const i = stage ? STAGES.indexOf(stage) : -1;
  const done = state === "INSTALLED" ? STAGES.length : Math.max(0, i + 1);
  const bar = "█".repeat(done) + "░".repeat(STAGES.length - done);
  return cell(`${bar} ${stage ?? "starting"}`, state === "INSTALLED" ? "ok" : "accent");
}

export function stateTone(state: string): Tone | undefined {
  if (state === "INSTALLED" || state === "DEPLOYED" || state === "READY") return "ok";
  if (state === "FAILED" || state === "BROKEN") return "bad";
  if (state === "INSTALLING" || state === "INSTALL_QUEUE" || state === "COMMISSIONING") return "accent";
  return undefined;
}

/** `12:03:04` today, `06-01 12:03` otherwise. */
export function clock(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const hms = d.toISOString().slice(11, 19);
  return d.toISOString().slice(0, 10) === now.toISOString().slice(0, 10)
    ? hms
    : `${d.toISOString().slice(5, 10)} ${hms.slice(0, 5)}`;
}
