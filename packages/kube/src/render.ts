/**
 * A label → its Deployment, as the design puts it: the label that defines Puppet classes also
 * defines the container image (`lab build`'s tag), the ports and, through its size, the
 * resources. Pure: the caller looks the label, size and image up.
 */
import { LabError } from "@lab/core";

/** Labels Lab puts on what it deploys, so `lab get deployments` finds only its own objects. */
export const MANAGED_BY = "app.kubernetes.io/managed-by";
export const LAB_LABEL = "lab.io/label";
export const LAB_CLUSTER = "lab.io/cluster";

export interface DeploymentInput {
  label: string;
  cluster: string;
  namespace: string;
  image: string;
  replicas: number;
  ports: number[];
  /** The label's size, abstract part: cores and memory as the YAML writes them. */
  size?: { name: string; cores: number | null; memory: string | null };
}

/** A Lab label name as a Kubernetes object name: lower-case, `_`/`.` as `-`. */
export function objectName(label: string): string {
  const name = label
    .toLowerCase()
    .replaceAll(/[^a-z0-9-]/g, "-")
    .replaceAll(/^-+|-+$/g, "");
  if (!name) throw new LabError("LAB_E_USAGE", `label "${label}" gives no Kubernetes name`);
  return name.slice(0, 63).replace(/-+$/, "");
}

/**
 * A size's memory as a Kubernetes quantity. Sizes say `8GB` and mean what machines have —
 * powers of two — so GB becomes Gi; a bare number is GB, as `memory: 8` reads.
 */
export function memoryQuantity(memory: string | number): string {
  if (typeof memory === "number") return `${memory}Gi`;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT])?(i)?B?\s*$/i.exec(memory);
  if (!m) throw new LabError("LAB_E_SCHEMA_VALUE", `memory "${memory}" is not like 8GB or 512MB`);
  const unit = (m[2] ?? "G").toUpperCase();
  return `${m[1]}${unit === "K" ? "Ki" : `${unit}i`}`;
}

/** The Deployment for a label; validated by the caller before it is sent. */
export function renderDeployment(d: DeploymentInput): Record<string, unknown> {
  if (!Number.isInteger(d.replicas) || d.replicas < 0) {
    throw new LabError("LAB_E_USAGE", `--replicas must be a whole number ≥ 0, not ${d.replicas}`);
  }
  const name = objectName(d.label);
  const selector = { [LAB_LABEL]: name };
  const requests: Record<string, string> = {};
  if (d.size?.cores) requests.cpu = String(d.size.cores);
  if (d.size?.memory) requests.memory = memoryQuantity(d.size.memory);
  const container: Record<string, unknown> = {
    name,
    image: d.image,
    ...(d.ports.length ? { ports: d.ports.map((p) => ({ containerPort: p, protocol: "TCP" })) } : {}),
    // Requests from the size, and the same memory as the limit: a pod that outgrows its size is
    // killed rather than starving its neighbours; CPU is not capped (throttling hides load).
    ...(Object.keys(requests).length
      ? { resources: { requests, ...(requests.memory ? { limits: { memory: requests.memory } } : {}) } }
      : {}),
  };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace: d.namespace,
      labels: { ...selector, [MANAGED_BY]: "lab", [LAB_CLUSTER]: d.cluster, "app.kubernetes.io/name": name },
      annotations: {
        "lab.io/source-label": d.label,
        ...(d.size ? { "lab.io/size": d.size.name } : {}),
      },
    },
    spec: {
      replicas: d.replicas,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...selector, [MANAGED_BY]: "lab" } },
        spec: { containers: [container] },
      },
    },
  };
}
