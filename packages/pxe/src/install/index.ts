export {
  autoinstallSection,
  DISK_PLACEHOLDER,
  renderAutoinstallMetaData,
  renderAutoinstallUserData,
  renderAutoinstallVendorData,
} from "./autoinstall.js";
export { INSTALL_FILES, primaryInstallFile, renderInstallFile } from "./files.js";
export { kickstartPreScript, PART_INCLUDE, renderKickstart } from "./kickstart.js";
export { BASE_VOLUMES, type LabVolume, labVolumes, VOLUME_GROUP, volumeName } from "./layout.js";
export { debianMirror, renderPreseed } from "./preseed.js";
export { shellLibrary, shQuote } from "./shell.js";
export {
  pushTalosConfig,
  renderTalosConfig,
  TALOS_API_PORT,
  type TalosPushOptions,
  talosInstallerImage,
  waitForTalosApi,
} from "./talos.js";
export { type ApplyResult, applyTalosConfig, TALOS_APPLY_MODES } from "./talos-api.js";
export type { ImageSpec, InstallContext, InstallFile, InstallFormat } from "./types.js";
export {
  checkCmdline,
  checkHostname,
  checkInstallContext,
  checkMac,
  checkServerUrl,
  fqdn,
  INSTALL_DEFAULTS,
  imageFileUrl,
  machineFileUrl,
} from "./validate.js";
