/** Sizes as the model writes them (`8GB`, `8192MB`, `500GB`, a bare number of GiB) in MiB. */
import { LabError } from "@lab/core";

const UNIT: Record<string, number> = {
  k: 1 / 1024,
  kb: 1 / 1024,
  kib: 1 / 1024,
  m: 1,
  mb: 1,
  mib: 1,
  g: 1024,
  gb: 1024,
  gib: 1024,
  t: 1024 * 1024,
  tb: 1024 * 1024,
  tib: 1024 * 1024,
};

/**
 * MiB from `8GB`/`512MiB`/`2T`; a bare number is GiB, as sizes are sold. GB and GiB are read
 * alike on purpose: a "64MB" VM is given 64 MiB by every hypervisor Lab drives.
 */
export function toMiB(q: unknown, what = "size"): number | null {
  if (q === undefined || q === null) return null;
  if (typeof q === "number") return Math.round(q * 1024);
  // Words after the quantity describe it ("500GB NVMe") and are not part of the number.
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?)?(?:\s+\S.*)?$/i.exec(String(q));
  if (!m) {
    throw new LabError(
      "LAB_E_PROVIDER_SIZE",
      `${what} "${String(q)}" is not a size such as 8GB, 512MB or 2TB`,
    );
  }
  const unit = (m[2] ?? "g").toLowerCase();
  return Math.round(Number(m[1]) * (UNIT[unit] ?? 1024));
}

/** 65536 → "64GB", 1536 → "1.5GB", 512 → "512MB": the way the design prints sizes. */
export function formatMiB(mib: number | null): string {
  if (mib === null) return "—";
  if (mib >= 1024 * 1024 && mib % (1024 * 1024) === 0) return `${mib / 1024 / 1024}TB`;
  if (mib >= 1024) return `${Number((mib / 1024).toFixed(1))}GB`;
  return `${mib}MB`;
}
