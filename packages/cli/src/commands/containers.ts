/**
 * `lab get containers`: the images `lab build` made (buildah's storage on this machine) and
 * where each one runs. K8S CLUSTER and STATUS are observed, never assumed: every cluster in
 * `clusters:` is asked for Lab's deployments (the same list `lab get deployments` shows, through
 * the same client, locally or via lab server) and an image is matched to the deployments whose
 * container runs exactly that reference. An image no answering cluster runs is "none" only when
 * every cluster answered; when one could not be asked the image may run there, so its cluster is
 * "—" with a footnote saying which cluster and why.
 */
import type { ClusterFailure, DeploymentRow } from "@lab/kube";
import type { Style } from "../output/style.js";
import { renderTable } from "../output/table.js";
import type { ContainerRow } from "./build.js";

/** What the clusters said: Lab's deployments, the clusters that could not be asked, how many there are. */
export interface ClusterAnswers {
  deployments: DeploymentRow[];
  failures: ClusterFailure[];
  /** How many clusters the model declares (0: there is nothing to ask). */
  clusters: number;
  /** Set when the clusters could not be asked at all (the model or lab server did not answer). */
  error?: string;
}

/**
 * One row per image and cluster that runs it; an image running nowhere is one row. `cluster`
 * is null when it cannot be told; `clusterUnknown` lists the clusters that could not be asked.
 */
export function placeContainers(images: ContainerRow[], answers: ClusterAnswers): ContainerRow[] {
  const unknown = unknownReason(answers);
  return images.flatMap((img): ContainerRow[] => {
    const running = answers.deployments.filter((d) => d.image === img.image);
    if (running.length > 0) {
      return running.map((d) => ({
        ...img,
        cluster: d.cluster,
        status: `${d.status} (${d.replicas.ready}/${d.replicas.desired})`,
        replicas: { ready: d.replicas.ready, desired: d.replicas.desired },
        deployment: `${d.namespace}/${d.name}`,
        // It may run on a cluster that could not be asked as well.
        clusterUnknown: unknown,
      }));
    }
    return [{ ...img, cluster: unknown.length ? null : "none", clusterUnknown: unknown }];
  });
}

/** Why an image found on no answering cluster may still run somewhere; empty when all answered. */
function unknownReason(a: ClusterAnswers): string[] {
  if (a.error) return [`the clusters could not be asked: ${a.error}`];
  if (a.clusters === 0) return ["no clusters: in the model to ask"];
  return a.failures.map((f) => `${f.cluster} could not be asked: ${f.code}: ${f.message}`);
}

export function containerTable(rows: ContainerRow[], style: Style): string {
  const table = renderTable(
    rows,
    [
      { header: "NAME", value: (r) => r.name },
      { header: "IMAGE", value: (r) => r.image },
      { header: "LABEL", value: (r) => r.label },
      { header: "K8S CLUSTER", value: (r) => r.cluster ?? "—" },
      { header: "STATUS", value: (r) => r.status },
    ],
    style,
  );
  // Each reason once, under the table: the clusters that could not be asked, so a "—" is not
  // known, and an image shown on one cluster may run on those too.
  const reasons = new Set(rows.flatMap((r) => r.clusterUnknown ?? []));
  return `${table}${[...reasons].map((why) => style.dim(`— ${why}\n`)).join("")}`;
}
