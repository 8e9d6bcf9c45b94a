/**
 * What Lab knows about a machine's hardware, whichever way it learnt it: the PXE discovery
 * initrd posts it, SSH onboarding detects it. One shape, validated at the edge.
 */
import { z } from "zod";

const mac = z
  .string()
  .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "a MAC address like 52:54:00:12:34:56 (lower case)");

export const DiskSchema = z.strictObject({
  name: z.string().min(1).max(64),
  /** nvme, ssd, hdd, virtual (virtio/QEMU), usb, unknown */
  type: z.enum(["nvme", "ssd", "hdd", "virtual", "usb", "unknown"]),
  sizeBytes: z.number().int().nonnegative(),
  removable: z.boolean().default(false),
  model: z.string().max(128).optional(),
});

export const NicSchema = z.strictObject({
  name: z.string().min(1).max(64),
  mac: mac.optional(),
  speedMbps: z.number().int().nonnegative().optional(),
  ipv4: z.array(z.string().max(64)).max(64).default([]),
});

export const GpuSchema = z.strictObject({
  vendor: z.enum(["nvidia", "amd", "intel", "other"]),
  model: z.string().max(256),
  memoryBytes: z.number().int().nonnegative().optional(),
});

export const HardwareSchema = z.strictObject({
  os: z
    .strictObject({
      id: z.string().max(64),
      name: z.string().max(128),
      version: z.string().max(64).optional(),
    })
    .optional(),
  /** uname -m: x86_64, aarch64, … */
  arch: z.string().max(32),
  firmware: z.enum(["bios", "efi", "unknown"]).default("unknown"),
  cpu: z.strictObject({
    model: z.string().max(256),
    cores: z.number().int().positive(),
    threads: z.number().int().positive().optional(),
    sockets: z.number().int().positive().optional(),
  }),
  memoryBytes: z.number().int().nonnegative(),
  disks: z.array(DiskSchema).max(256).default([]),
  nics: z.array(NicSchema).max(256).default([]),
  gpus: z.array(GpuSchema).max(64).default([]),
  system: z
    .strictObject({
      vendor: z.string().max(128).optional(),
      product: z.string().max(128).optional(),
      serial: z.string().max(128).optional(),
    })
    .optional(),
  /** What could not be detected and why (a missing tool, unparsable output). */
  warnings: z.array(z.string().max(512)).max(64).default([]),
});

export type Hardware = z.infer<typeof HardwareSchema>;
export type Disk = z.infer<typeof DiskSchema>;
export type Nic = z.infer<typeof NicSchema>;
export type Gpu = z.infer<typeof GpuSchema>;

/** Normalises a MAC address to lower-case colon form; undefined if it is not one. */
export function normaliseMac(input: string): string | undefined {
  const hex = input
    .trim()
    .toLowerCase()
    .replace(/[^0-9a-f]/g, "");
  if (hex.length !== 12 || !/^[0-9a-f:.-]+$/.test(input.trim().toLowerCase())) return undefined;
  return hex.match(/../g)?.join(":");
}
