/**
 * The K8s deployer: labels → Deployments on the model's clusters. It reads the model through
 * the engine's list views and the kubeconfig through a secret reader, so the CLI's local mode
 * and `lab server` run the same code with their own secret store (`modelDeployer`).
 */
import {
  type ClusterRow,
  type Engine,
  LabError,
  type LabelRow,
  type NewAuditEvent,
  notFound,
  type SizeRow,
} from "@lab/core";
import { type DeploymentRow, KubeClient } from "./client.js";
import { objectName, renderDeployment } from "./render.js";
import { assertValidManifests } from "./validate.js";

export interface DeployerHost {
  clusters(): Promise<ClusterRow[]>;
  labels(): Promise<LabelRow[]>;
  sizes(): Promise<SizeRow[]>;
  /** The secret's current value as text; throws LAB_E_SECRET_* when it has none. */
  secret(path: string): Promise<string>;
  /** The audit log: every deploy and scale, done or refused. */
  record(e: NewAuditEvent): Promise<unknown>;
}

/**
 * The deployer over an engine's model and a secret store, acting as `actor`: what the CLI's
 * local mode and `lab server` both build, so the two cannot drift apart.
 */
export function modelDeployer(o: {
  engine: Pick<Engine, "list">;
  secret: (path: string) => Promise<string>;
  record: (e: NewAuditEvent) => Promise<unknown>;
  actor: string;
}): Deployer {
  return new Deployer(
    {
      clusters: () => o.engine.list("cluster"),
      labels: () => o.engine.list("label"),
      sizes: () => o.engine.list("size"),
      secret: o.secret,
      record: o.record,
    },
    o.actor,
  );
}

/** A cluster that could not be listed: shown as a row of its own, never dropped. */
export interface ClusterFailure {
  cluster: string;
  code: string;
  message: string;
}

export interface DeployRequest {
  label: string;
  cluster: string;
  replicas: number;
  image: string;
}

export class Deployer {
  constructor(
    private readonly host: DeployerHost,
    /** Who acts, for the audit log (the CLI's user, or the server's token holder). */
    private readonly actor: string,
  ) {}

  /** Runs a write and records it, done or refused (the refusal's code in the summary). */
  private async audited<T>(
    what: { action: string; summary: string; subjects: string[] },
    f: () => Promise<T>,
    done: (r: T) => string,
  ): Promise<T> {
    const event = { actor: this.actor, changes: [], subjects: what.subjects, action: what.action };
    let r: T;
    try {
      r = await f();
    } catch (e) {
      const code = e instanceof LabError ? e.code : "LAB_E_INTERNAL";
      await this.host.record({ ...event, result: "error", summary: `${what.summary}: refused, ${code}` });
      throw e;
    }
    await this.host.record({ ...event, result: "ok", summary: `${what.summary}: ${done(r)}` });
    return r;
  }

  async cluster(name: string): Promise<ClusterRow> {
    const all = await this.host.clusters();
    const c = all.find((r) => r.name === name);
    if (!c)
      throw notFound(
        "cluster",
        name,
        all.map((r) => r.name),
      );
    return c;
  }

  async client(c: ClusterRow): Promise<KubeClient> {
    if (!c.kubeconfigSecret) {
      throw new LabError("LAB_E_KUBECONFIG", `cluster ${c.name} names no kubeconfig_secret`);
    }
    let text: string;
    try {
      text = await this.host.secret(c.kubeconfigSecret);
    } catch (e) {
      const why = e instanceof LabError ? `${e.code}: ${e.message}` : (e as Error).message;
      throw new LabError(
        "LAB_E_KUBECONFIG",
        `cluster ${c.name}: cannot read its kubeconfig secret ${c.kubeconfigSecret} (${why})`,
      );
    }
    return new KubeClient({ cluster: c.name, kubeconfig: text, namespace: c.namespace });
  }

  /** Lab's deployments on every cluster (or one); a cluster that fails is reported, not hidden. */
  async list(o: { cluster?: string; label?: string } = {}): Promise<{
    deployments: DeploymentRow[];
    failures: ClusterFailure[];
  }> {
    const clusters = o.cluster ? [await this.cluster(o.cluster)] : await this.host.clusters();
    const label = o.label ? objectName(o.label) : undefined;
    const results = await Promise.all(
      clusters.map(async (c) => {
        try {
          return { rows: await (await this.client(c)).list(label) };
        } catch (e) {
          const err = e instanceof LabError ? e : new LabError("LAB_E_KUBE_API", (e as Error).message);
          return { failure: { cluster: c.name, code: err.code, message: err.message } };
        }
      }),
    );
    return {
      deployments: results.flatMap((r) => r.rows ?? []),
      failures: results.flatMap((r) => (r.failure ? [r.failure] : [])),
    };
  }

  /** The Deployment for a label on a cluster, validated offline; nothing is sent. */
  async render(r: DeployRequest): Promise<Record<string, unknown>> {
    const c = await this.cluster(r.cluster);
    const labels = await this.host.labels();
    const label = labels.find((l) => l.name === r.label);
    if (!label)
      throw notFound(
        "label",
        r.label,
        labels.map((l) => l.name),
      );
    const size = label.size ? (await this.host.sizes()).find((s) => s.name === label.size) : undefined;
    const manifest = renderDeployment({
      label: label.name,
      cluster: c.name,
      namespace: c.namespace,
      image: r.image,
      replicas: r.replicas,
      ports: label.ports,
      ...(size ? { size: { name: size.name, cores: size.cores, memory: size.memory } } : {}),
    });
    assertValidManifests([manifest]);
    return manifest;
  }

  async deploy(
    r: DeployRequest,
  ): Promise<{ op: "created" | "updated"; row: DeploymentRow; manifest: Record<string, unknown> }> {
    return this.audited(
      {
        action: "kube.deploy",
        summary: `deploy label ${r.label} to cluster ${r.cluster} (${r.image}, ${r.replicas} replica(s))`,
        subjects: [`cluster/${r.cluster}`, `label/${r.label}`],
      },
      async () => {
        const manifest = await this.render(r);
        const client = await this.client(await this.cluster(r.cluster));
        return { ...(await client.apply(manifest)), manifest };
      },
      (d) => `${d.op} deployment ${d.row.namespace}/${d.row.name}`,
    );
  }

  async scale(r: { label: string; cluster: string; replicas: number }): Promise<{
    name: string;
    cluster: string;
    from: number;
    to: number;
  }> {
    return this.audited(
      {
        action: "kube.scale",
        summary: `scale label ${r.label} on cluster ${r.cluster} to ${r.replicas}`,
        subjects: [`cluster/${r.cluster}`, `label/${r.label}`],
      },
      async () => {
        const client = await this.client(await this.cluster(r.cluster));
        const name = objectName(r.label);
        const existing = await client.get(name);
        if (!existing) {
          throw new LabError(
            "LAB_E_NOT_FOUND",
            `cluster ${r.cluster} has no deployment ${name} for label ${r.label}: deploy it first (lab deploy --label ${r.label} --cluster ${r.cluster})`,
          );
        }
        return { name, cluster: r.cluster, ...(await client.scale(name, r.replicas)) };
      },
      (s) => `${s.name} ${s.from} → ${s.to} replicas`,
    );
  }
}
