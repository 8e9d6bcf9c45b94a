/** Builds a PowerControl over a store's model: the wiring `lab server` and the local CLI share. */
import type { NewAuditEvent, PowerSpec, Resource } from "@lab/core";
import { type PowerControl as Control, PowerControl } from "./control.js";
import { type TimelineLike, timelineBootWatch } from "./manual.js";

export interface PowerHostOptions {
  load: () => Promise<Resource[]>;
  record: (event: NewAuditEvent) => Promise<unknown>;
  /** A secret's current value as text (the host's secret store); absent: password_secret fails clearly. */
  secret?: (path: string) => Promise<string>;
  /** The PXE timeline, where manual machines are seen booting. */
  timeline?: TimelineLike;
  /** How a person is told what to press (printed by the CLI, an event on the server). */
  tell?: (name: string, message: string) => void;
}

export function powerControl(opts: PowerHostOptions): Control {
  return new PowerControl({
    targets: async () =>
      (await opts.load())
        .filter((r) => r.kind === "server")
        .map((r) => {
          const spec = r.spec as { power?: PowerSpec; mac?: string };
          return { name: r.name, spec: spec.power, mac: spec.mac?.toLowerCase().replaceAll("-", ":") };
        })
        .sort((a, b) => a.name.localeCompare(b.name)),
    context: (t) => ({
      secret: opts.secret,
      bootWatch: opts.timeline && t.mac ? timelineBootWatch(opts.timeline, t.mac) : undefined,
      tell: (message) => opts.tell?.(t.name, message),
    }),
    record: opts.record,
  });
}
