/** The onboarded server, created through the same apply as `lab apply` (validation, audit). */
import type { ApplyResult, Engine } from "@lab/core";
import { stringify } from "yaml";

export function applyServer(
  engine: Engine,
  name: string,
  spec: {
    provider: string;
    labels: string[];
    environment?: string;
    host?: string;
    mac?: string;
    image?: string;
    /** How Lab switches it (`power:` in the model). */
    power?: Record<string, unknown>;
  },
): Promise<ApplyResult> {
  const { labels, ...rest } = spec;
  const server = { ...rest, ...(labels.length ? { labels } : {}) };
  const text = stringify({ servers: { [name]: server } });
  return engine.apply({ files: [{ path: `<onboard ${name}>`, text }] });
}
