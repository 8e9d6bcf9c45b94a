/** From the model's server (and its size and image) to what one provider is asked to make. */
import { type Fleet, type ImageSpec, LabError, type ServerSpec, type SizeSpec } from "@lab/core";
import type { ResourceSpec, Sizing } from "./types.js";
import { toMiB } from "./units.js";

/**
 * A size for one provider: its `providers.<name>` block, over the size's `abstract:`. The
 * physical mapping's `min_cores`/`min_memory` mean "at least", so a 128 GB machine that
 * reports 125 GiB still meets a 128GB size.
 */
export function sizingFor(size: SizeSpec | null, provider: string): Sizing {
  const abstract = size?.abstract ?? {};
  const own = (size?.providers?.[provider] ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  const minCores = num(own.min_cores);
  const minMemory = own.min_memory;
  const atLeast =
    minCores !== null || minMemory !== undefined || provider === "ssh" || provider === "baremetal";
  return {
    cores: num(own.cores) ?? minCores ?? abstract.cores ?? null,
    memoryMiB: toMiB(own.memory ?? minMemory ?? abstract.memory, "memory"),
    diskMiB: toMiB(own.disk ?? own.min_disk ?? abstract.disk, "disk"),
    instanceType: typeof own.instance_type === "string" ? own.instance_type : null,
    atLeast,
  };
}

/** What `provider` calls an image of the model (its `providers:` entry), or null. */
export function imageRefFor(image: ImageSpec | undefined, provider: string): string | null {
  const own = image?.providers;
  if (provider === "aws") return own?.aws?.ami ?? null;
  if (provider === "libvirt") return own?.libvirt?.volume ?? null;
  return null;
}

/** The spec of server `name` as the model resolves it (its size may come from a label). */
export function resourceSpec(fleet: Fleet, name: string): ResourceSpec {
  const resource = fleet.model.server.get(name);
  if (!resource) {
    throw new LabError("LAB_E_NOT_FOUND", `no server "${name}" in the model (lab get servers lists them)`);
  }
  const spec = resource.spec as ServerSpec;
  const resolution = fleet.resolve(name);
  if (!resolution) throw new LabError("LAB_E_NOT_FOUND", `no server "${name}" in the model`);
  const sizeName = resolution.size?.name ?? null;
  const size = sizeName ? (fleet.model.size.get(sizeName)?.spec ?? null) : null;
  const ref = spec.image ? imageRefFor(fleet.model.image.get(spec.image)?.spec, spec.provider) : null;
  return {
    name,
    provider: spec.provider,
    labels: resolution.labels,
    size: sizeName,
    sizing: sizingFor(size, spec.provider),
    image: spec.image ? { name: spec.image, ref } : null,
    host: spec.host ?? null,
    mac: spec.mac?.toLowerCase().replaceAll("-", ":") ?? null,
    mounts: spec.mounts ?? [],
    attributes: spec.attributes ?? {},
    power: (spec.power as Record<string, unknown> | undefined) ?? null,
  };
}
