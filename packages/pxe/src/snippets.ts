/**
 * DHCP mode `off`: the user's own DHCP server points machines at Lab. These snippets chain
 * firmware PXE to iPXE over Lab's TFTP, and iPXE straight to Lab's HTTP boot script.
 */
export interface SnippetOptions {
  /** The address machines reach Lab's boot HTTP port on. */
  bootHost: string;
  bootPort: number;
  tftpHost: string;
}

export function dnsmasqSnippet(o: SnippetOptions): string {
  const url = `http://${o.bootHost}:${o.bootPort}/boot.ipxe`;
  return `# Lab network boot (dnsmasq): paste into dnsmasq.conf and restart dnsmasq.
# Machines already running iPXE (user class "iPXE") get Lab's script over HTTP at once.
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-match=set:arm64,option:client-arch,11
dhcp-boot=tag:ipxe,${url}
# Firmware PXE loads iPXE from Lab's TFTP server first.
dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi,,${o.tftpHost}
dhcp-boot=tag:!ipxe,tag:arm64,ipxe-arm64.efi,,${o.tftpHost}
dhcp-boot=tag:!ipxe,tag:!efi64,tag:!arm64,undionly.kpxe,,${o.tftpHost}
# iPXE option 175.176 (no-pxedhcp): iPXE skips its 3 s wait for ProxyDHCP offers.
dhcp-option-force=tag:ipxe,175,b0:01:01
`;
}

export function iscDhcpSnippet(o: SnippetOptions): string {
  const url = `http://${o.bootHost}:${o.bootPort}/boot.ipxe`;
  return `# Lab network boot (ISC dhcpd): paste into dhcpd.conf (top level or a subnet) and restart.
option client-arch code 93 = unsigned integer 16;
option space ipxe;
option ipxe.no-pxedhcp code 176 = unsigned integer 8;
option ipxe-encap code 175 = encapsulate ipxe;
next-server ${o.tftpHost};
if exists user-class and option user-class = "iPXE" {
  # iPXE is running: hand it Lab's boot script over HTTP.
  option ipxe.no-pxedhcp 1;
  filename "${url}";
} elsif option client-arch = 7 or option client-arch = 9 {
  filename "ipxe.efi";
} elsif option client-arch = 11 {
  filename "ipxe-arm64.efi";
} else {
  filename "undionly.kpxe";
}
`;
}
