/**
 * The one event model every log source normalises into (syslog, boot, OTel files, Loki,
 * callbacks): when, which node and service, which source said it, how bad, what, and the rest.
 */

export const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type Level = (typeof LEVELS)[number];

export type AttributeValue = string | number | boolean;

export interface LabEvent {
  /** ISO time of the event itself (not of its arrival). */
  time: string;
  /** The server or host it concerns, when known. */
  node: string | null;
  service: string | null;
  /** The source that delivered it (`otel-file:/var/log/otel/logs.json`, `syslog`, …). */
  source: string;
  level: Level;
  message: string;
  attributes: Record<string, AttributeValue>;
}

/** OpenTelemetry severity numbers (1–24, six bands of four) to a level; text when no number. */
export function levelOf(severityNumber: number | undefined, severityText: string | undefined): Level {
  if (severityNumber && severityNumber >= 1 && severityNumber <= 24) {
    return LEVELS[Math.floor((severityNumber - 1) / 4)] as Level;
  }
  const t = (severityText ?? "").toLowerCase();
  if (t.startsWith("trace")) return "trace";
  if (t.startsWith("debug")) return "debug";
  if (t.startsWith("warn")) return "warn";
  if (t.startsWith("err")) return "error";
  if (t.startsWith("fatal") || t.startsWith("crit") || t.startsWith("emerg") || t.startsWith("alert"))
    return "fatal";
  return "info";
}
