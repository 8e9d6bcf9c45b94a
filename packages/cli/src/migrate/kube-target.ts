/**
 * `lab server migrate --target kubernetes`: the plan and the manifests for running Lab's
 * control plane in a cluster, validated offline against the Kubernetes OpenAPI schema
 * (@lab/kube). Nothing is sent to a cluster: applying them, creating the Secret and moving the
 * state into the volume need one, and the plan says which steps those are.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LabError } from "@lab/core";
import { stringify } from "yaml";
import type { CommandContext } from "../commands/command-context.js";
import { displayPath, labHome, statePath } from "../context.js";
import { renderManifests, secretCommand } from "./kube-manifests.js";
import { renderPlan } from "./plan.js";
import { summarise } from "./state-snapshot.js";

export interface KubeFlags {
  out?: string;
  namespace: string;
  image?: string;
  storage: string;
  cluster?: string;
  pxeHostNetwork?: boolean;
}

const QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function fileName(index: number, o: Record<string, unknown>): string {
  const kind = String(o.kind).toLowerCase();
  const name = String((o.metadata as { name?: string }).name);
  return `${String(index * 10).padStart(2, "0")}-${kind}-${name}.yaml`;
}

export async function migrateToKubernetes(ctx: CommandContext, o: KubeFlags): Promise<void> {
  if (!QUANTITY.test(o.storage)) {
    throw new LabError(
      "LAB_E_USAGE",
      `--storage wants a Kubernetes quantity such as 10Gi, got "${o.storage}"`,
    );
  }
  if (!DNS_LABEL.test(o.namespace)) {
    throw new LabError("LAB_E_USAGE", `--namespace must be a DNS label (a-z, 0-9, -), got "${o.namespace}"`);
  }
  const { io, print, out } = ctx;
  const home = labHome(io.env);
  const version = (await import("../version.js")).VERSION;
  const image = o.image ?? `lab:${version}`;
  const objects = renderManifests({
    namespace: o.namespace,
    image,
    storage: o.storage,
    pxe: Boolean(o.pxeHostNetwork),
  });

  // With --out the plan is the output; without, the manifests are (ready for `kubectl apply -f -`).
  const say = o.out ? (s: string) => print(s) : (s: string) => io.stderr.write(s);
  const state = existsSync(statePath(io.env)) ? summarise(statePath(io.env)) : undefined;
  const counts = state
    ? Object.entries(state.objects)
        .map(([k, v]) => `${k}s ${v.length}`)
        .join(", ")
    : "no local state";
  const target = `kubernetes://${o.cluster ?? "cluster"}/${o.namespace}`;
  const present = (p: string) => existsSync(join(home, p));
  say(
    renderPlan(
      {
        headline: `~ migrate lab-server from local (${displayPath(home)}) to ${target}`,
        steps: [
          { op: "+", plan: `k8s Namespace ${o.namespace}` },
          {
            op: "+",
            plan: `k8s Deployment lab-server (1 replica, Recreate: SQLite has one writer; image ${image})`,
          },
          { op: "+", plan: "k8s Service lab-server (port 7443 API, 7444 agents)" },
          { op: "+", plan: `PersistentVolumeClaim lab-server-state (${o.storage}) mounted as LAB_HOME` },
          {
            op: "+",
            plan: `Secret lab-server-keys (referenced, not rendered: keys never go into manifests) — needs a cluster: ${secretCommand(o.namespace, displayPath(home), present)}`,
          },
          {
            op: "+",
            plan: `migrate state.db to the PVC (${counts}) — needs a cluster: not done by this command`,
          },
          {
            op: o.pxeHostNetwork ? "+" : "=",
            plan: o.pxeHostNetwork
              ? "PXE services in the pod: hostNetwork, NET_ADMIN/NET_RAW/NET_BIND_SERVICE, lab server --pxe"
              : "PXE services stay on the bootstrap node (pass --pxe-host-network to run them in a hostNetwork pod)",
          },
        ],
        notes: [
          "PXE/DHCP requires L2 network access. If the k8s node is on the same L2 segment, use hostNetwork (--pxe-host-network). Otherwise keep PXE on the bootstrap node and migrate only the API/state to k8s.",
          ...(o.image
            ? []
            : [
                `no image of Lab is built here: ${image} is a placeholder; build one with lab on PATH and pass --image`,
              ]),
        ],
      },
      out,
    ),
  );
  say("Step 2: Render\n");

  const { validateManifests, manifestErrorText } = await import("@lab/kube");
  const errors = validateManifests(objects);
  if (errors.length > 0) {
    throw new LabError(
      "LAB_E_KUBE_INVALID",
      `the rendered manifests are not valid Kubernetes:\n${manifestErrorText(errors)}`,
    );
  }
  if (o.out) {
    const dir = resolve(o.out);
    mkdirSync(dir, { recursive: true });
    const files = objects.map((obj, i) => {
      const name = fileName(i, obj);
      writeFileSync(join(dir, name), stringify(obj, { lineWidth: 0, aliasDuplicateObjects: false }));
      return name;
    });
    say(`→ wrote ${files.length} manifests to ${o.out}: ${files.join(", ")}\n`);
  } else {
    print(objects.map((obj) => stringify(obj, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n"));
  }
  say(
    `✓ validated offline: ${objects.length} objects against the Kubernetes 1.27 OpenAPI schema (@lab/kube), 0 errors\n`,
  );
  say(
    `Needs a real cluster (not done here): create the Secret, kubectl apply${o.out ? ` -f ${o.out}` : ""}, copy the state into the PVC, wait for /readyz, lab login — see docs/server.md\n`,
  );
}
