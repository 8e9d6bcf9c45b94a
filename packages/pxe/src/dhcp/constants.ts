/**
 * Numbers from RFC 2131/2132 (DHCP), RFC 4578 (PXE options 93/94/97), the PXE 2.1 spec (option 43
 * sub-options) and iPXE (option 175). Named so the handler reads like the RFCs.
 */

/** BOOTP op field. */
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

/** UDP ports: server, client, PXE boot-server discovery (ProxyDHCP on 4011). */
export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;
export const PXE_PORT = 4011;

/** RFC 2131 §3: the options area starts with this cookie. */
export const MAGIC_COOKIE = 0x63825363;
/** Fixed BOOTP header (236 bytes) plus the cookie. */
export const HEADER_SIZE = 240;
/** RFC 1542 §3.3 / dnsmasq: replies are padded to at least the 300-byte BOOTP size old ROMs expect. */
export const MIN_PACKET_SIZE = 300;
/** RFC 2131: every client must accept 576-byte IP datagrams (548 bytes of DHCP). */
export const DEFAULT_MAX_MESSAGE = 576 - 28;
/** The largest reply we ever build: an Ethernet MTU minus IP and UDP headers. */
export const MAX_REPLY_SIZE = 1500 - 28;

/** RFC 2131 flags: the client cannot receive unicast before it is configured. */
export const FLAG_BROADCAST = 0x8000;

/** Option 53 values (RFC 2132 §9.6). */
export const MSG = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** Option codes used here (RFC 2132 unless noted). */
export const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  RELAY_AGENT_INFO: 82,
  /** RFC 4578: client system architecture (uint16 list). */
  CLIENT_ARCH: 93,
  /** RFC 4578: client network device interface (type, major, minor). */
  CLIENT_NDI: 94,
  /** RFC 4578: client machine identifier (type 0 + 16-byte GUID). */
  CLIENT_UUID: 97,
  /** iPXE: encapsulated iPXE options; its presence marks an iPXE client. */
  IPXE_ENCAP: 175,
  END: 255,
} as const;

/** PXE 2.1 option 43 sub-options we send. */
export const PXE_SUBOPT = {
  /** PXE_DISCOVERY_CONTROL: bit 3 (8) = "boot the file in this packet, skip boot-server discovery". */
  DISCOVERY_CONTROL: 6,
  /** PXE_BOOT_ITEM: echoed back on port 4011 when a client names one. */
  BOOT_ITEM: 71,
} as const;

/** iPXE option 175 sub-options (src/include/ipxe/dhcp.h). */
export const IPXE_SUBOPT = {
  /** no-pxedhcp: do not wait for ProxyDHCP offers (Lab is the whole DHCP service). */
  NO_PXEDHCP: 176,
} as const;

/** RFC 4578 / IANA processor architecture types (option 93) that Lab boots. */
export const ARCH = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X64: 9,
  EFI_ARM32: 10,
  EFI_ARM64: 11,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
} as const;

/** Message type names for logs and events. */
export const MSG_NAMES: Readonly<Record<number, string>> = {
  1: "discover",
  2: "offer",
  3: "request",
  4: "decline",
  5: "ack",
  6: "nak",
  7: "release",
  8: "inform",
};
