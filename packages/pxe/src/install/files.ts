/**
 * The per-machine files of the contract (/pxe/v1/machines/<mac>/<token>/<file>), by format.
 * A file a format does not use is `undefined` (the server answers 404).
 */
import {
  renderAutoinstallMetaData,
  renderAutoinstallUserData,
  renderAutoinstallVendorData,
} from "./autoinstall.js";
import { renderKickstart } from "./kickstart.js";
import { renderPreseed } from "./preseed.js";
import { shQuote } from "./shell.js";
import { renderTalosConfig } from "./talos.js";
import type { InstallContext, InstallFile, InstallFormat } from "./types.js";

/** The file names each format serves. */
export const INSTALL_FILES: Record<InstallFormat, readonly string[]> = {
  autoinstall: ["user-data", "meta-data", "vendor-data"],
  kickstart: ["ks.cfg"],
  preseed: ["preseed.cfg"],
  talos: ["talos.yaml"],
  // Lab's own images (no installer of their own): the machine's settings as shell variables.
  none: ["lab.env"],
};

/** The contract file a format's installer is pointed at first (undefined: none). */
export function primaryInstallFile(ctx: Pick<InstallContext, "image">): string | undefined {
  if (ctx.image.format === "talos" && ctx.image.talos?.mode === "push") return undefined;
  return INSTALL_FILES[ctx.image.format][0];
}

/** Renders one per-machine file, or undefined when this machine's format has no such file. */
export function renderInstallFile(ctx: InstallContext, fileName: string): InstallFile | undefined {
  const format = ctx.image?.format;
  if (!format || !INSTALL_FILES[format]?.includes(fileName)) return undefined;
  switch (fileName) {
    case "user-data":
      return { contentType: "text/cloud-config; charset=utf-8", body: renderAutoinstallUserData(ctx) };
    case "meta-data":
      return { contentType: "text/yaml; charset=utf-8", body: renderAutoinstallMetaData(ctx) };
    case "vendor-data":
      return { contentType: "text/yaml; charset=utf-8", body: renderAutoinstallVendorData(ctx) };
    case "ks.cfg":
      return { contentType: "text/plain; charset=utf-8", body: renderKickstart(ctx) };
    case "preseed.cfg":
      return { contentType: "text/plain; charset=utf-8", body: renderPreseed(ctx) };
    case "lab.env":
      return { contentType: "text/plain; charset=utf-8", body: renderLabEnv(ctx) };
    case "talos.yaml":
      // Push mode keeps the secrets off HTTP: Lab applies the config itself.
      if (ctx.image.talos?.mode === "push") return undefined;
      return { contentType: "application/yaml; charset=utf-8", body: renderTalosConfig(ctx) };
    default:
      return undefined;
  }
}

/** `lab.env`: what Lab's own images read at their configuring stage (sourced by busybox sh). */
function renderLabEnv(ctx: InstallContext): string {
  const vars: [string, string | undefined][] = [
    ["LAB_HOSTNAME", ctx.hostname],
    ["LAB_DOMAIN", ctx.domain],
    ["LAB_JOIN_TOKEN", ctx.joinToken],
    ["LAB_AGENT_INSTALL_URL", ctx.agentInstallUrl],
  ];
  return [
    "# Lab: this machine's install settings (one-time join token inside: keep it to this machine)",
    ...vars.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${shQuote(v as string)}`),
    "",
  ].join("\n");
}
