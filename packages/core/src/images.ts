/**
 * The image catalogue: the images every Lab knows, overridden or extended by `images:` in the
 * model. Kernels and initrds of the built-ins are the distributions' own netboot files.
 */
import type { Model } from "./model.js";
import type { ImageSpec } from "./schema.js";

export const DISCOVERY_IMAGE = "lab-discovery";

export const BUILTIN_IMAGES: Record<string, ImageSpec> = {
  "ubuntu-24.04": {
    description: "Ubuntu 24.04 LTS server, autoinstall (cloud-init NoCloud)",
    format: "autoinstall",
    arch: "x86_64",
    kernel: "https://releases.ubuntu.com/24.04/netboot/amd64/linux",
    initrd: ["https://releases.ubuntu.com/24.04/netboot/amd64/initrd"],
    repo: "https://releases.ubuntu.com/24.04/ubuntu-24.04.3-live-server-amd64.iso",
  },
  "debian-12": {
    description: "Debian 12 (bookworm), debian-installer preseed",
    format: "preseed",
    arch: "x86_64",
    kernel:
      "https://deb.debian.org/debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/linux",
    initrd: [
      "https://deb.debian.org/debian/dists/bookworm/main/installer-amd64/current/images/netboot/debian-installer/amd64/initrd.gz",
    ],
    repo: "deb.debian.org",
  },
  "rocky-9": {
    description: "Rocky Linux 9, Anaconda kickstart",
    format: "kickstart",
    arch: "x86_64",
    kernel: "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/images/pxeboot/vmlinuz",
    initrd: ["https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/images/pxeboot/initrd.img"],
    repo: "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/",
  },
  "fedora-41": {
    description: "Fedora 41 Server, Anaconda kickstart",
    format: "kickstart",
    arch: "x86_64",
    kernel:
      "https://dl.fedoraproject.org/pub/fedora/linux/releases/41/Server/x86_64/os/images/pxeboot/vmlinuz",
    initrd: [
      "https://dl.fedoraproject.org/pub/fedora/linux/releases/41/Server/x86_64/os/images/pxeboot/initrd.img",
    ],
    repo: "https://dl.fedoraproject.org/pub/fedora/linux/releases/41/Server/x86_64/os/",
  },
  [DISCOVERY_IMAGE]: {
    description:
      "Lab's discovery and test installer (Debian kernel + busybox), built by `lab pxe image build`",
    format: "none",
    arch: "x86_64",
    kernel: "vmlinuz",
    initrd: ["initrd.gz"],
  },
};

export interface CatalogueImage {
  name: string;
  spec: ImageSpec;
  source: "builtin" | "model";
}

/** Every image this model can install: the built-ins, overridden by the model's own. */
export function imageCatalogue(model: Pick<Model, "image">): Map<string, CatalogueImage> {
  const out = new Map<string, CatalogueImage>();
  for (const [name, spec] of Object.entries(BUILTIN_IMAGES)) out.set(name, { name, spec, source: "builtin" });
  for (const r of model.image.values()) out.set(r.name, { name: r.name, spec: r.spec, source: "model" });
  return out;
}

/** Whether a kernel/initrd reference is fetched from elsewhere rather than served by Lab. */
export function isRemote(file: string): boolean {
  return /^https?:\/\//.test(file);
}
