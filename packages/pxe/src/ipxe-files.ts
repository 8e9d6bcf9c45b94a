/**
 * iPXE binaries Lab hands out over TFTP, and where Debian's `ipxe` package installs them. A
 * module of its own (`@lab/pxe/ipxe-files`) so the CLI can show the default in its options
 * without loading the boot code.
 */
export const IPXE_FILES = ["undionly.kpxe", "ipxe.efi", "snponly.efi", "ipxe-arm64.efi"];
export const DEFAULT_IPXE_DIR = "/usr/lib/ipxe";
