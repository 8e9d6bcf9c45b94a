/**
 * What an alert name means: a user definition, a built-in (label-attached or auto-generated)
 * or a port check. Views show it; renderers turn it into Prometheus rules or Naemon services.
 */
import {
  type Backend,
  BUILTIN_ALERTS,
  CLASS_ALERTS,
  type Condition,
  METRICS,
  parseCondition,
  portCheck,
} from "./conditions.js";
import type { Model } from "./model.js";

export interface AlertDefinition {
  name: string;
  origin: "user" | "builtin" | "port";
  condition: Condition | null;
  /** The condition as written, for display (also when it does not parse). */
  conditionText: string | null;
  severity: string;
  for: string | null;
  description: string | null;
  /** The port a port check probes. */
  port?: number;
}

const PORT_ALERT = /^(http|https|smtp|imap|tcp)_(\d{1,5})$/;

export function alertDefinition(model: Model, name: string): AlertDefinition | undefined {
  const user = model.alert.get(name)?.spec;
  if (user) {
    const parsed = parseCondition(user.condition);
    return {
      name,
      origin: "user",
      condition: parsed.ok ? parsed.condition : null,
      conditionText: user.condition,
      severity: user.severity ?? "warning",
      for: user.for ?? null,
      description: user.description ?? null,
    };
  }
  const builtin = BUILTIN_ALERTS[name];
  if (builtin) {
    const parsed = parseCondition(builtin.condition);
    return {
      name,
      origin: "builtin",
      condition: parsed.ok ? parsed.condition : null,
      conditionText: builtin.condition,
      severity: builtin.severity,
      for: builtin.for ?? null,
      description: builtin.description,
    };
  }
  const port = PORT_ALERT.exec(name);
  if (port) {
    const n = Number(port[2]);
    const { metric } = portCheck(n);
    return {
      name,
      origin: "port",
      condition: { metric, op: "==", value: 0 },
      conditionText: `${metric} == 0`,
      severity: "critical",
      for: "2m",
      description: `port ${n} does not answer`,
      port: n,
    };
  }
  return undefined;
}

/** The backend that renders an alert: the alert's own choice, a label's, else the metric's. */
export function backendFor(model: Model, def: AlertDefinition, attachedBy: string[]): Backend | null {
  const own = model.alert.get(def.name)?.spec.backend;
  if (own) return own;
  for (const label of attachedBy) {
    const b = model.label.get(label)?.spec.alert_backend;
    if (b) return b;
  }
  return def.condition ? (METRICS[def.condition.metric]?.backend ?? null) : null;
}

/** The alerts a Puppet class brings: the model's `classes:` entry, else the built-in table. */
export function classAlerts(model: Model, cls: string): string[] {
  return model.class.get(cls)?.spec.alerts ?? CLASS_ALERTS[cls] ?? [];
}
