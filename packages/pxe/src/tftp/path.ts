/**
 * Turning a TFTP file name into a file: names are checked before they touch the file system,
 * mapped through the caller's `resolve`, or joined to the root and checked again after
 * symlinks are followed, so nothing outside the root (or the mapping) is ever served.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, join, sep } from "node:path";
import { TFTP_ERR } from "./packet.js";

export type NameCheck = { ok: true; rel: string } | { ok: false; code: number; message: string };

/** Control characters, backslashes (Windows-style separators smuggle `..\`) and NUL are refused. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

/**
 * Checks a requested name and makes it relative to the root. A leading `/` (PXE ROMs often send
 * one) means the root, and so does the root's own absolute path as a prefix; `..` anywhere,
 * NUL, control characters and backslashes are refused with TFTP error 2.
 */
export function checkTftpName(root: string, filename: string): NameCheck {
  const refuse = (why: string): NameCheck => ({
    ok: false,
    code: TFTP_ERR.ACCESS_VIOLATION,
    message: `access violation: ${why}`,
  });
  if (FORBIDDEN.test(filename)) return refuse("control character or backslash in the file name");
  let name = filename;
  const rootPrefix = root.endsWith("/") ? root : `${root}/`;
  if (name.startsWith(rootPrefix)) name = name.slice(rootPrefix.length);
  const parts: string[] = [];
  for (const seg of name.split("/")) {
    if (seg === "..") return refuse("'..' in the file name");
    if (seg !== "" && seg !== ".") parts.push(seg);
  }
  if (parts.length === 0) return refuse("no file name");
  return { ok: true, rel: parts.join("/") };
}

export type FileLookup =
  | { ok: true; path: string; mapped: boolean }
  | { ok: false; code: number; message: string };

/**
 * Finds the file for a checked relative name: `resolve(rel)` first (its answer is trusted and
 * must be absolute), else `rootReal/rel`, which must still lie inside `rootReal` once symlinks
 * are resolved. `rootReal` is the root's realpath.
 */
export async function lookupTftpFile(
  rootReal: string,
  rel: string,
  resolve?: (path: string) => string | undefined,
): Promise<FileLookup> {
  const mapped = resolve?.(rel);
  if (mapped !== undefined) {
    if (!isAbsolute(mapped)) {
      return { ok: false, code: TFTP_ERR.NOT_DEFINED, message: "server error: mapping gave a relative path" };
    }
    return { ok: true, path: mapped, mapped: true };
  }
  let real: string;
  try {
    real = await realpath(join(rootReal, rel));
  } catch (e) {
    return fsError(e);
  }
  if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
    return {
      ok: false,
      code: TFTP_ERR.ACCESS_VIOLATION,
      message: "access violation: link leads outside the root",
    };
  }
  return { ok: true, path: real, mapped: false };
}

/** Maps a file-system error to the TFTP error a client understands. */
export function fsError(e: unknown): { ok: false; code: number; message: string } {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "ENAMETOOLONG":
    case "ELOOP":
      return { ok: false, code: TFTP_ERR.FILE_NOT_FOUND, message: "file not found" };
    case "ENOTFILE":
    case "EISDIR":
      return { ok: false, code: TFTP_ERR.FILE_NOT_FOUND, message: "file not found (not a regular file)" };
    case "EACCES":
    case "EPERM":
      return { ok: false, code: TFTP_ERR.ACCESS_VIOLATION, message: "access violation: permission denied" };
    default:
      return { ok: false, code: TFTP_ERR.NOT_DEFINED, message: `server error: ${code ?? "read failed"}` };
  }
}
