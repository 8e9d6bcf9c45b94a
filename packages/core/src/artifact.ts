/**
 * The artifact builder's recipe: a label's Puppet classes baked into a container image, as the
 * design shows it. Pure text; packages/cli/src/commands/build.ts runs it with buildah.
 */
import { LabError } from "./errors.js";

export interface ArtifactSpec {
  label: string;
  classes: string[];
  ports: number[];
  /** The image to start from; it must already hold Puppet (no network during the build). */
  base: string;
}

const SHELL_SAFE_CLASS = /^[a-z][a-z0-9_]*(::[a-z0-9_]+)*$/;

/**
 * The Containerfile: copy the modules in, apply the label's classes in one run (so their
 * ordering and dependencies hold as on a machine), then drop the modules and Puppet's state.
 * `--detailed-exitcodes` makes a failed resource fail the build (exit 4/6) while a run that
 * changed things (2) passes.
 */
export function containerfile(spec: ArtifactSpec): string {
  if (spec.classes.length === 0) {
    throw new LabError("LAB_E_BUILD", `label ${spec.label} has no puppet_classes: nothing to build`);
  }
  for (const c of spec.classes) {
    if (!SHELL_SAFE_CLASS.test(c)) throw new LabError("LAB_E_BUILD", `"${c}" is not a Puppet class name`);
  }
  const includes = spec.classes.map((c) => `include ${c}`).join("; ");
  return [
    `# Lab artifact for label ${spec.label}: classes ${spec.classes.join(", ")}`,
    `FROM ${spec.base}`,
    `LABEL io.lab.label=${JSON.stringify(spec.label)} io.lab.classes=${JSON.stringify(spec.classes.join(","))}`,
    `ENV FACTER_lab_role=${spec.label} FACTER_lab_labels=${spec.label}`,
    "COPY modules/ /etc/puppet/code/modules/",
    `RUN puppet apply --detailed-exitcodes --color false --modulepath /etc/puppet/code/modules -e '${includes}'; rc=$?; [ $rc -eq 0 ] || [ $rc -eq 2 ]`,
    "# Clean up Puppet's inputs and state; the configured services stay.",
    "RUN rm -rf /etc/puppet/code/modules /var/cache/puppet /var/lib/puppet/reports",
    ...(spec.ports.length ? [`EXPOSE ${spec.ports.join(" ")}`] : []),
    "",
  ].join("\n");
}

/** The tag the design shows: REGISTRY/LABEL:YYYY.MM.DD. */
export function artifactTag(registry: string, label: string, at: Date): string {
  const d = at.toISOString().slice(0, 10).replaceAll("-", ".");
  return `${registry.replace(/\/$/, "")}/${label}:${d}`;
}
