/**
 * Whole-model checks that a schema cannot express: references between objects, cycles among
 * groups, and warnings that need the engine (alerts that target nothing, size conflicts).
 */
import { alertDefinition } from "./alert-defs.js";
import { METRICS, parseCondition } from "./conditions.js";
import { Fleet } from "./engine.js";
import { type Diagnostic, diagnostic, didYouMean, type LabCode, type Location } from "./errors.js";
import { imageCatalogue } from "./images.js";
import { validateLayouts } from "./layout.js";
import type { Model, Resource } from "./model.js";
import type { Kind, SelectorSpec } from "./schema.js";

/** Finds the location of a value inside an object: `(resource, ["labels", 2])`. */
export type Locator = (resource: Resource, path: (string | number)[]) => Location | undefined;

const REF_CODE: Partial<Record<Kind, LabCode>> = {
  label: "LAB_E_REF_LABEL",
  group: "LAB_E_REF_GROUP",
  size: "LAB_E_REF_SIZE",
  server: "LAB_E_REF_SERVER",
};

export function validateModel(model: Model, locate: Locator = (r) => r.origin): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (r: Resource, path: (string | number)[]) => locate(r, path) ?? r.origin;

  const ref = (r: Resource, kind: Kind, name: string, path: (string | number)[]) => {
    if ((model[kind] as Map<string, unknown>).has(name)) return;
    const hint = didYouMean(name, model[kind].keys());
    const code = REF_CODE[kind] ?? "LAB_E_REF_LABEL";
    out.push(
      diagnostic(
        code,
        `${r.kind} "${r.name}" refers to ${kind} "${name}", which is not defined${hint ? ` (did you mean "${hint}"?)` : ""}`,
        at(r, path),
      ),
    );
  };
  const selectorRefs = (r: Resource, sel: SelectorSpec | undefined, base: string) => {
    if (!sel) return;
    const each = (key: "labels" | "groups" | "servers", kind: Kind) =>
      sel[key]?.forEach((n, i) => {
        ref(r, kind, n, [base, key, i]);
      });
    each("labels", "label");
    each("groups", "group");
    each("servers", "server");
  };

  // Talos installs by push only: Lab applies the cluster's machine config (a secret) to the
  // node's maintenance API. Pull would put that config, cluster secrets included, on a URL.
  for (const r of model.image.values()) {
    if (r.spec.format !== "talos") continue;
    const t = r.spec.talos;
    if (t?.mode !== "push" || !t.machine_config) {
      out.push(
        diagnostic(
          "LAB_E_IMAGE_UNSUPPORTED",
          `image "${r.name}" is a Talos image: Lab installs Talos by pushing the machine config — give talos: { mode: push, machine_config: SECRET } (pull mode would serve the cluster's secrets on a URL)`,
          at(r, t ? ["talos"] : ["format"]),
        ),
      );
    } else if (!model.secret.has(t.machine_config)) {
      out.push(
        diagnostic(
          "LAB_E_REF_SECRET",
          `image "${r.name}" takes its Talos machine config from secret "${t.machine_config}", which is not declared under secrets:`,
          at(r, ["talos", "machine_config"]),
        ),
      );
    }
  }
  // A lab's machines and each step's machines are servers; a step's machines belong to the lab.
  for (const r of model.lab.values()) {
    r.spec.machines.forEach((m, i) => {
      ref(r, "server", m, ["machines", i]);
    });
    r.spec.steps.forEach((step, si) => {
      step.machines?.forEach((m, i) => {
        if (!r.spec.machines.includes(m)) {
          out.push(
            diagnostic(
              "LAB_E_REF_SERVER",
              `lab "${r.name}" step ${si + 1} names machine "${m}", which is not one of the lab's machines (${r.spec.machines.join(", ")})`,
              at(r, ["steps", si, "machines", i]),
            ),
          );
        }
      });
    });
  }
  // A cluster's nodes are Lab servers: its control plane by name, its workers by selector.
  // The kubeconfig secret need not be defined under `secrets:` (it is set with `lab secret set`).
  for (const r of model.cluster.values()) {
    r.spec.servers?.forEach((m, i) => {
      ref(r, "server", m, ["servers", i]);
    });
    r.spec.agents?.forEach((m, i) => {
      ref(r, "server", m, ["agents", i]);
    });
    if (r.spec.k3s) ref(r, "server", r.spec.k3s.join_server, ["k3s", "join_server"]);
    selectorRefs(r, r.spec.members, "members");
  }
  const images = imageCatalogue(model);
  for (const r of model.server.values()) {
    r.spec.labels?.forEach((l, i) => {
      ref(r, "label", l, ["labels", i]);
    });
    if (r.spec.size) ref(r, "size", r.spec.size, ["size"]);
    // An EC2 server may name its AMI itself rather than an image of the model.
    const ami = r.spec.provider === "aws" && /^ami-[0-9a-f]+$/.test(r.spec.image ?? "");
    if (r.spec.image && !ami && !images.has(r.spec.image)) {
      const hint = didYouMean(r.spec.image, images.keys());
      out.push(
        diagnostic(
          "LAB_E_REF_IMAGE",
          `server "${r.name}" is installed with image "${r.spec.image}", which is not defined${hint ? ` (did you mean "${hint}"?)` : ""}`,
          at(r, ["image"]),
        ),
      );
    }
  }
  for (const r of model.label.values()) {
    if (r.spec.size) ref(r, "size", r.spec.size, ["size"]);
    r.spec.secrets?.forEach((s, i) => {
      if (!model.secret.has(s)) {
        out.push(
          diagnostic(
            "LAB_W_SECRET_UNDEFINED",
            `label "${r.name}" uses secret "${s}", which is not defined under secrets:`,
            at(r, ["secrets", i]),
          ),
        );
      }
    });
  }
  for (const r of model.group.values()) {
    r.spec.groups?.forEach((g, i) => {
      ref(r, "group", g, ["groups", i]);
    });
    r.spec.servers?.forEach((s, i) => {
      ref(r, "server", s, ["servers", i]);
    });
    selectorRefs(r, r.spec.match, "match");
    selectorRefs(r, r.spec.exclude, "exclude");
  }
  for (const r of model.alert.values()) {
    selectorRefs(r, r.spec.target, "target");
    selectorRefs(r, r.spec.exclude, "exclude");
    const parsed = parseCondition(r.spec.condition);
    if (!parsed.ok) {
      const hint = parsed.message.startsWith("unknown metric")
        ? didYouMean(r.spec.condition.trim().split(/\s/)[0] ?? "", Object.keys(METRICS))
        : undefined;
      out.push(
        diagnostic(
          "LAB_E_ALERT_CONDITION",
          `alert "${r.name}": ${parsed.message}${hint ? ` (did you mean "${hint}"?)` : ""}`,
          at(r, ["condition"]),
        ),
      );
    }
  }
  // Names that labels and classes attach must mean something renderable.
  const undefinedAlert = (r: Resource, name: string, path: (string | number)[]) => {
    if (alertDefinition(model, name)) return;
    out.push(
      diagnostic(
        "LAB_W_ALERT_UNDEFINED",
        `${r.kind} "${r.name}" attaches alert "${name}", which has no condition and will not be rendered`,
        at(r, path),
      ),
    );
  };
  for (const r of [...model.label.values(), ...model.class.values()]) {
    r.spec.alerts?.forEach((a, i) => {
      undefinedAlert(r, a, ["alerts", i]);
    });
  }
  for (const r of model.secret.values()) selectorRefs(r, r.spec.exclude, "exclude");

  out.push(...groupCycles(model));
  out.push(...validateLayouts(model, at));
  if (out.some((d) => d.severity === "error")) return out;
  return [...out, ...engineWarnings(model)];
}

/** Every cycle among groups (through subgroups, `match.groups` or `exclude.groups`), once. */
function groupCycles(model: Model): Diagnostic[] {
  const edges = (name: string): string[] => {
    const spec = model.group.get(name)?.spec;
    if (!spec) return [];
    return [...(spec.groups ?? []), ...(spec.match?.groups ?? []), ...(spec.exclude?.groups ?? [])];
  };
  const out: Diagnostic[] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (g: string) => {
    state.set(g, "visiting");
    stack.push(g);
    for (const next of edges(g)) {
      if (!model.group.has(next)) continue;
      const s = state.get(next);
      if (s === "visiting") {
        const cycle = [...stack.slice(stack.indexOf(next)), next];
        const key = [...cycle.slice(0, -1)].sort().join(",");
        if (!seen.has(key)) {
          seen.add(key);
          const origin = model.group.get(next)?.origin;
          out.push(
            diagnostic(
              "LAB_E_GROUP_CYCLE",
              `groups form a cycle: ${cycle.join(" → ")}`,
              origin,
              cycle.slice(1, -1).flatMap((c) => model.group.get(c)?.origin ?? []),
            ),
          );
        }
      } else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(g, "done");
  };
  for (const g of model.group.keys()) if (!state.has(g)) visit(g);
  return out;
}

function engineWarnings(model: Model): Diagnostic[] {
  const out: Diagnostic[] = [];
  // Read off the fleet's sets: no server is resolved.
  const fleet = new Fleet(model);
  for (const alert of model.alert.values()) {
    const reach = alert.spec.target && fleet.alertSet(alert.name);
    if (reach?.members.isEmpty() && reach.excluded.isEmpty()) {
      out.push(
        diagnostic(
          "LAB_W_TARGET_EMPTY",
          `alert "${alert.name}" matches no server (target: ${describeSelector(alert.spec.target)})`,
          alert.origin,
        ),
      );
    }
  }
  const conflicts = new Set<string>();
  for (const { server, conflict: c } of fleet.sizeConflicts()) {
    if (conflicts.has(c.message)) continue;
    conflicts.add(c.message);
    out.push(
      diagnostic("LAB_W_SIZE_CONFLICT", `server "${server}": ${c.message}`, model.server.get(server)?.origin),
    );
  }
  return out;
}

export function describeSelector(sel: SelectorSpec | undefined): string {
  if (!sel) return "none";
  const parts: string[] = [];
  if (sel.labels) parts.push(`label ${sel.labels.join("|")}`);
  if (sel.groups) parts.push(`group ${sel.groups.join("|")}`);
  if (sel.servers) parts.push(`server ${sel.servers.join("|")}`);
  if (sel.environment) parts.push(`environment ${sel.environment.join("|")}`);
  if (sel.region) parts.push(`region ${sel.region.join("|")}`);
  return parts.length ? parts.join(" and ") : "all servers";
}
