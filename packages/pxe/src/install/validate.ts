/**
 * Strict checks for every value that reaches an installer script, a kernel command line or an
 * iPXE script. Installers run what we give them as root, so nothing is escaped "just enough":
 * a value either matches a narrow character set or is refused with a LabError naming the field.
 */
import { LabError } from "@lab/core";
import type { ImageSpec, InstallContext } from "./types.js";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const INSTALL_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const JOIN_TOKEN = /^[A-Za-z0-9_.~+=:-]{8,512}$/;
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const PATH_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const CMDLINE_TOKEN = /^[A-Za-z0-9_.,:=/+@%~-]+$/;
const CONSOLE = /^[A-Za-z]{2,8}[0-9]{1,3}(,[0-9]{3,7}([noe][5-8]r?)?)?$/;
const DEVICE = /^\/dev\/[A-Za-z0-9/_.:+-]{1,200}$/;
const MOUNT = /^\/[a-z0-9_./-]{0,100}$/;
const TIMEZONE = /^[A-Za-z0-9_+/-]{1,64}$/;
const LOCALE = /^[a-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]{1,16})?(@[a-z]{1,16})?$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
/** URL characters allowed in installer files: no quotes, spaces, `$`, `;`, `#`, backslashes. */
const URL_CHARS = /^https?:\/\/[A-Za-z0-9._~:[\]@%+-]+(\/[A-Za-z0-9._~/%+:@=-]*)?$/;
const URL_WITH_QUERY =
  /^https?:\/\/[A-Za-z0-9._~:[\]@%+-]+(\/[A-Za-z0-9._~/%+:@=-]*)?(\?[A-Za-z0-9._~%+=&-]*)?$/;
const SSH_KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);
const SSH_COMMENT = /^[A-Za-z0-9 ._@:+=,/-]{0,200}$/;
/** Mount points that are always recreated: the system itself. */
const NEVER_PRESERVED = new Set(["/", "/boot", "/boot/efi", "/usr", "/var", "/etc"]);

export const INSTALL_DEFAULTS = { timezone: "Etc/UTC", locale: "en_US.UTF-8", adminUser: "lab" } as const;

function bad(field: string, value: unknown, allowed: string): LabError {
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
  return new LabError("LAB_E_INSTALL_BAD_VALUE", `${field} ${shown} is not allowed: ${allowed}`);
}

/** A host label (RFC 1123), lower-cased. */
export function checkHostname(value: string, field = "hostname"): string {
  const v = String(value).toLowerCase();
  if (!LABEL.test(v))
    throw bad(field, value, "use 1-63 of a-z, 0-9 and '-', not starting or ending with '-'");
  return v;
}

/** A DNS domain (may be empty), lower-cased. */
export function checkDomain(value: string): string {
  const v = String(value ?? "")
    .toLowerCase()
    .replace(/\.$/, "");
  if (v === "") return v;
  if (v.length > 200 || !v.split(".").every((l) => LABEL.test(l)))
    throw bad("domain", value, "use dot-separated labels of a-z, 0-9 and '-'");
  return v;
}

/** A MAC address, normalised to lower-case colon form. */
export function checkMac(value: string): string {
  const v = String(value).toLowerCase().replaceAll("-", ":");
  if (!MAC.test(v)) throw bad("mac", value, "write it like 52:54:00:12:34:56");
  return v;
}

/** An http(s) base URL without query or trailing slash. */
export function checkServerUrl(value: string, field = "serverUrl"): string {
  const v = String(value).replace(/\/+$/, "");
  if (!URL_CHARS.test(v)) throw bad(field, value, "use an http(s) URL of letters, digits and ._~:/%+-@=");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw bad(field, value, "use a valid http(s) URL");
  }
  if (u.username || u.password) throw bad(field, value, "leave credentials out of the URL");
  return v;
}

/** An http(s) URL that may carry a query string (download locations). */
export function checkUrl(value: string, field: string): string {
  const v = String(value);
  if (!URL_WITH_QUERY.test(v))
    throw bad(field, value, "use an http(s) URL without spaces, quotes, $, ; or #");
  try {
    new URL(v);
  } catch {
    throw bad(field, value, "use a valid http(s) URL");
  }
  return v;
}

export function checkInstallToken(value: string, field = "installToken"): string {
  if (!INSTALL_TOKEN.test(String(value)))
    throw bad(field, "(hidden)", "expected 16-128 base64url characters");
  return value;
}

export function checkJoinToken(value: string): string {
  if (!JOIN_TOKEN.test(String(value)))
    throw bad("joinToken", "(hidden)", "expected 8-512 of A-Z a-z 0-9 _.~+=:-");
  return value;
}

/** Kernel arguments: space-separated tokens of a strict character set (no `;`, `$`, `#`, quotes). */
export function checkCmdline(value: string | undefined, field = "cmdline"): string[] {
  if (value === undefined) return [];
  const tokens = String(value).trim().split(/ +/).filter(Boolean);
  for (const t of tokens) {
    if (!CMDLINE_TOKEN.test(t) || t === "||" || t === "&&")
      throw bad(field, t, "kernel arguments may use only A-Z a-z 0-9 and _.,:=/+@%~-");
  }
  if (tokens.join(" ").length > 2048) throw bad(field, value, "keep it under 2048 characters");
  return tokens;
}

export function checkConsole(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!CONSOLE.test(value)) throw bad("console", value, "write it like ttyS0 or ttyS0,115200n8");
  return value;
}

/** A URL or a relative file path under the image's directory. */
export function checkImageFile(value: string, field: string): string {
  const v = String(value);
  if (/^https?:\/\//.test(v)) return checkUrl(v, field);
  const segments = v.split("/");
  if (!segments.every((s) => PATH_SEGMENT.test(s)))
    throw bad(field, value, "use a URL or a relative path of A-Z a-z 0-9 and ._+- segments");
  return v;
}

export function checkImage(image: ImageSpec): ImageSpec {
  if (!image || typeof image !== "object") throw bad("image", image, "give an image definition");
  if (!IMAGE_NAME.test(String(image.name)))
    throw bad("image.name", image.name, "use 1-63 of A-Z a-z 0-9 and ._-");
  const formats = ["autoinstall", "kickstart", "preseed", "talos", "none"];
  if (!formats.includes(image.format))
    throw bad("image.format", image.format, `use one of ${formats.join(", ")}`);
  if (image.arch !== undefined && image.arch !== "x86_64" && image.arch !== "aarch64")
    throw bad("image.arch", image.arch, "use x86_64 or aarch64");
  checkImageFile(image.kernel, "image.kernel");
  if (!Array.isArray(image.initrd) || image.initrd.length > 16)
    throw bad("image.initrd", image.initrd, "give a list of at most 16 initrds");
  for (const [i, f] of image.initrd.entries()) checkImageFile(f, `image.initrd[${i}]`);
  checkCmdline(image.cmdline, "image.cmdline");
  if (image.repo !== undefined) checkRepo(image.repo);
  if (
    image.talos?.version !== undefined &&
    !/^v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+][A-Za-z0-9.]+)?$/.test(image.talos.version)
  )
    throw bad("image.talos.version", image.talos.version, "write it like 1.8.3 or v1.8.3");
  return image;
}

/** A mirror URL, or a bare mirror host name (Debian's mirror/http/hostname). */
export function checkRepo(value: string): string {
  if (/^https?:\/\//.test(value)) return checkUrl(value, "image.repo");
  if (!value.split(".").every((l) => LABEL.test(l.toLowerCase())))
    throw bad("image.repo", value, "use an http(s) URL or a host name");
  return value;
}

/** One OpenSSH public key line: known type, base64 blob that names the same type, safe comment. */
export function checkSshKey(value: string, index: number): string {
  const field = `sshAuthorizedKeys[${index}]`;
  const line = String(value).trim();
  const [type, blob, ...rest] = line.split(/ +/);
  const comment = rest.join(" ");
  if (!type || !SSH_KEY_TYPES.has(type))
    throw bad(field, line.slice(0, 40), "expected an ssh-ed25519, ssh-rsa or ecdsa key");
  if (!blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob))
    throw bad(field, line.slice(0, 40), "the key's base64 part is malformed");
  const raw = Buffer.from(blob, "base64");
  const nameLen = raw.length >= 4 ? raw.readUInt32BE(0) : -1;
  if (nameLen <= 0 || nameLen > 64 || raw.subarray(4, 4 + nameLen).toString("latin1") !== type)
    throw bad(field, line.slice(0, 40), "the key's base64 part does not encode a key of that type");
  if (!SSH_COMMENT.test(comment))
    throw bad(field, comment, "comments may use only A-Z a-z 0-9, spaces and ._@:+=,/-");
  return comment ? `${type} ${blob} ${comment}` : `${type} ${blob}`;
}

export function checkPreserve(list: string[]): string[] {
  if (!Array.isArray(list) || list.length > 16) throw bad("preserve", list, "give at most 16 mount points");
  const out: string[] = [];
  for (const raw of list) {
    const m = String(raw).replace(/\/+$/, "") || "/";
    if (!MOUNT.test(m) || m.includes("..") || m.includes("//"))
      throw bad("preserve", raw, "give absolute mount points of a-z 0-9 and _./-");
    if (NEVER_PRESERVED.has(m)) throw bad("preserve", raw, `${m} holds the system and is always recreated`);
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

export function checkSyslog(s: InstallContext["syslog"]): InstallContext["syslog"] {
  if (s === undefined) return undefined;
  const host = String(s.host);
  const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(host);
  const name = host.split(".").every((l) => LABEL.test(l.toLowerCase()));
  if (!ipv4 && !name) throw bad("syslog.host", host, "give an IPv4 address or a host name");
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535)
    throw bad("syslog.port", s.port, "give a port between 1 and 65535");
  return { host, port: s.port };
}

/** Validates and normalises a whole install context; renderers only ever see its result. */
export function checkInstallContext(ctx: InstallContext): InstallContext {
  const image = checkImage(ctx.image);
  const disk = ctx.disk === "auto" ? "auto" : String(ctx.disk);
  if (disk !== "auto" && (!DEVICE.test(disk) || disk.includes("..")))
    throw bad("disk", ctx.disk, 'use "auto" or a device path like /dev/nvme0n1 or /dev/disk/by-id/…');
  if (!Array.isArray(ctx.sshAuthorizedKeys) || ctx.sshAuthorizedKeys.length > 64)
    throw bad("sshAuthorizedKeys", ctx.sshAuthorizedKeys, "give a list of at most 64 keys");
  const timezone = ctx.timezone ?? INSTALL_DEFAULTS.timezone;
  if (!TIMEZONE.test(timezone) || timezone.includes(".."))
    throw bad("timezone", timezone, "use a zone name like Europe/Berlin");
  const locale = ctx.locale ?? INSTALL_DEFAULTS.locale;
  if (!LOCALE.test(locale)) throw bad("locale", locale, "use a locale like en_US.UTF-8");
  const adminUser = ctx.adminUser ?? INSTALL_DEFAULTS.adminUser;
  if (!USER.test(adminUser) || adminUser === "root")
    throw bad("adminUser", adminUser, "use a user name of a-z 0-9 _- (not root)");
  return {
    ...ctx,
    hostname: checkHostname(ctx.hostname),
    domain: checkDomain(ctx.domain),
    mac: checkMac(ctx.mac),
    serverUrl: checkServerUrl(ctx.serverUrl),
    installToken: checkInstallToken(ctx.installToken),
    joinToken:
      ctx.joinToken === undefined || ctx.joinToken === "" ? undefined : checkJoinToken(ctx.joinToken),
    sshAuthorizedKeys: ctx.sshAuthorizedKeys.map(checkSshKey),
    syslog: checkSyslog(ctx.syslog),
    image,
    console: checkConsole(ctx.console),
    disk,
    reprovision: Boolean(ctx.reprovision),
    preserve: checkPreserve(ctx.preserve ?? []),
    timezone,
    locale,
    adminUser,
    agentInstallUrl:
      ctx.agentInstallUrl === undefined ? undefined : checkUrl(ctx.agentInstallUrl, "agentInstallUrl"),
  };
}

/** The machine's fully qualified name. */
export function fqdn(ctx: Pick<InstallContext, "hostname" | "domain">): string {
  return ctx.domain ? `${ctx.hostname}.${ctx.domain}` : ctx.hostname;
}

/** The per-machine file URL the installer fetches (contract: /pxe/v1/machines/<mac>/<token>/<file>). */
export function machineFileUrl(
  ctx: Pick<InstallContext, "serverUrl" | "mac" | "installToken">,
  file = "",
): string {
  return `${ctx.serverUrl}/pxe/v1/machines/${ctx.mac}/${ctx.installToken}/${file}`;
}

/** Where an image file lives: its own URL, or under /pxe/v1/images/<name>/. */
export function imageFileUrl(serverUrl: string, image: ImageSpec, file: string): string {
  if (/^https?:\/\//.test(file)) return file;
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${serverUrl}/pxe/v1/images/${encodeURIComponent(image.name)}/${path}`;
}
