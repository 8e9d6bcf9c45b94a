/**
 * Lab's Kubernetes client: deployments of one cluster through @kubernetes/client-node, with
 * the API's failures turned into Lab's codes. The kubeconfig is the text of the cluster's
 * secret; nothing is read from ~/.kube.
 */
import { AppsV1Api, KubeConfig, type V1Deployment } from "@kubernetes/client-node";
import { LabError } from "@lab/core";
import { LAB_LABEL, MANAGED_BY } from "./render.js";
import { assertValidManifests } from "./validate.js";

/** One deployment as `lab get deployments` shows it; everything in it was observed. */
export interface DeploymentRow {
  name: string;
  cluster: string;
  namespace: string;
  label: string | null;
  replicas: { desired: number; ready: number; updated: number; available: number };
  image: string | null;
  /** From the API's status: running, rolling out, degraded, scaled to 0; "unreachable" etc. when the cluster did not answer. */
  status: string;
  /** Why, when the status is not "running" (a condition's message or the error's code). */
  reason?: string;
}

/** What the API server said when it refused, in Lab's terms. */
function apiError(e: unknown, cluster: string, server: string, action: string): LabError {
  if (e instanceof LabError) return e;
  const err = e as { code?: unknown; body?: unknown; message?: string; cause?: { code?: string } };
  if (typeof err.code === "number") {
    let status: { message?: string; reason?: string } = {};
    try {
      status = typeof err.body === "string" ? JSON.parse(err.body) : ((err.body as typeof status) ?? {});
    } catch {
      status = { message: String(err.body).slice(0, 200) };
    }
    const said = status.message ?? `HTTP ${err.code}`;
    const where = `cluster ${cluster} (${server}) refused to ${action}`;
    if (err.code === 401) return new LabError("LAB_E_KUBE_UNAUTHORIZED", `${where}: ${said}`);
    if (err.code === 403) return new LabError("LAB_E_KUBE_FORBIDDEN", `${where}: ${said}`);
    if (err.code === 409) return new LabError("LAB_E_KUBE_CONFLICT", `${where}: ${said}`);
    if (err.code === 404) return new LabError("LAB_E_NOT_FOUND", `${where}: ${said}`);
    if (err.code === 422) return new LabError("LAB_E_KUBE_INVALID", `${where}: ${said}`);
    return new LabError(
      "LAB_E_KUBE_API",
      `${where}: ${said} (HTTP ${err.code}${status.reason ? `, ${status.reason}` : ""})`,
    );
  }
  // node-fetch's FetchError carries the socket's errno (ECONNREFUSED, ENOTFOUND, a TLS code).
  const code = (e as { code?: string }).code ?? err.cause?.code ?? "";
  return new LabError(
    "LAB_E_KUBE_UNREACHABLE",
    `cluster ${cluster}: cannot reach the API server at ${server} to ${action}${code ? ` (${code})` : ""}: ${err.message ?? String(e)}`,
  );
}

export interface KubeClientOptions {
  cluster: string;
  /** The kubeconfig's text (YAML or JSON), from the cluster's secret. */
  kubeconfig: string;
  namespace: string;
}

export class KubeClient {
  readonly server: string;
  private readonly apps: AppsV1Api;

  constructor(private readonly o: KubeClientOptions) {
    const kc = new KubeConfig();
    try {
      kc.loadFromString(o.kubeconfig);
    } catch (e) {
      throw new LabError(
        "LAB_E_KUBECONFIG",
        `cluster ${o.cluster}: the kubeconfig secret does not parse: ${(e as Error).message}`,
      );
    }
    const current = kc.getCurrentCluster();
    if (!current?.server) {
      throw new LabError(
        "LAB_E_KUBECONFIG",
        `cluster ${o.cluster}: the kubeconfig has no current context with a cluster server (current-context: ${kc.getCurrentContext() || "none"})`,
      );
    }
    this.server = current.server;
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  private async call<T>(action: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw apiError(e, this.o.cluster, this.server, action);
    }
  }

  /** Lab's deployments in the cluster's namespace (selected by Lab's managed-by label). */
  async list(label?: string): Promise<DeploymentRow[]> {
    const selector = [`${MANAGED_BY}=lab`, ...(label ? [`${LAB_LABEL}=${label}`] : [])].join(",");
    const list = await this.call("list deployments", () =>
      this.apps.listNamespacedDeployment({ namespace: this.o.namespace, labelSelector: selector }),
    );
    return list.items.map((d) => deploymentRow(d, this.o.cluster));
  }

  async get(name: string): Promise<V1Deployment | undefined> {
    try {
      return await this.apps.readNamespacedDeployment({ name, namespace: this.o.namespace });
    } catch (e) {
      if ((e as { code?: unknown }).code === 404) return undefined;
      throw apiError(e, this.o.cluster, this.server, `read deployment ${name}`);
    }
  }

  /**
   * Creates the deployment, or replaces Lab's own one of that name (keeping its resourceVersion,
   * so a change made meanwhile is a 409 rather than lost). One that Lab did not make is refused.
   */
  async apply(manifest: Record<string, unknown>): Promise<{ op: "created" | "updated"; row: DeploymentRow }> {
    assertValidManifests([manifest]);
    const name = (manifest.metadata as { name: string }).name;
    const existing = await this.get(name);
    if (!existing) {
      const made = await this.call(`create deployment ${name}`, () =>
        this.apps.createNamespacedDeployment({ namespace: this.o.namespace, body: manifest as V1Deployment }),
      );
      return { op: "created", row: deploymentRow(made, this.o.cluster) };
    }
    if (existing.metadata?.labels?.[MANAGED_BY] !== "lab") {
      throw new LabError(
        "LAB_E_KUBE_CONFLICT",
        `cluster ${this.o.cluster}: deployment ${this.o.namespace}/${name} exists and was not made by Lab (no ${MANAGED_BY}=lab label): Lab leaves it alone`,
      );
    }
    const body = {
      ...manifest,
      metadata: { ...(manifest.metadata as object), resourceVersion: existing.metadata?.resourceVersion },
    } as V1Deployment;
    const updated = await this.call(`update deployment ${name}`, () =>
      this.apps.replaceNamespacedDeployment({ name, namespace: this.o.namespace, body }),
    );
    return { op: "updated", row: deploymentRow(updated, this.o.cluster) };
  }

  /** Sets the replica count through the scale subresource (what `kubectl scale` does). */
  async scale(name: string, replicas: number): Promise<{ from: number; to: number }> {
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new LabError("LAB_E_USAGE", `--replicas must be a whole number ≥ 0, not ${replicas}`);
    }
    const current = await this.call(`read the scale of deployment ${name}`, () =>
      this.apps.readNamespacedDeploymentScale({ name, namespace: this.o.namespace }),
    );
    const body = {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name, namespace: this.o.namespace, resourceVersion: current.metadata?.resourceVersion },
      spec: { replicas },
    };
    assertValidManifests([body]);
    const done = await this.call(`scale deployment ${name}`, () =>
      this.apps.replaceNamespacedDeploymentScale({ name, namespace: this.o.namespace, body }),
    );
    return { from: current.spec?.replicas ?? 0, to: done.spec?.replicas ?? replicas };
  }
}

/** The status as the API reports it: conditions and counts, never assumed. */
export function deploymentRow(d: V1Deployment, cluster: string): DeploymentRow {
  const desired = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const replicas = {
    desired,
    ready: s.readyReplicas ?? 0,
    updated: s.updatedReplicas ?? 0,
    available: s.availableReplicas ?? 0,
  };
  const conditions = s.conditions ?? [];
  const available = conditions.find((c) => c.type === "Available");
  const progressing = conditions.find((c) => c.type === "Progressing");
  let status: string;
  let reason: string | undefined;
  if (progressing?.status === "False") {
    status = "failed";
    reason = progressing.message;
  } else if (desired === 0) status = "scaled to 0";
  else if (replicas.ready >= desired && replicas.updated >= desired && available?.status === "True") {
    status = "running";
  } else if (available?.status === "False") {
    status = "degraded";
    reason = available.message;
  } else {
    status = "rolling out";
    reason = progressing?.message;
  }
  return {
    name: d.metadata?.name ?? "",
    cluster,
    namespace: d.metadata?.namespace ?? "",
    label: d.metadata?.labels?.[LAB_LABEL] ?? null,
    replicas,
    image: d.spec?.template?.spec?.containers?.[0]?.image ?? null,
    status,
    ...(reason ? { reason } : {}),
  };
}
