/**
 * Lab's discovery image (kernel + busybox initrd, built by scripts/build-discovery-image.sh)
 * for end-to-end boots. Built once per machine into a cache directory; the script itself skips
 * the build when its stamp matches and serialises concurrent builds with a lock, so test files
 * running in parallel share one build.
 *
 *   const image = await ensureBootImage(); // { kernel, initrd, dir }
 *
 * The first build downloads the Debian kernel package (~70 MB) and takes about half a minute;
 * later calls take well under a second. LAB_TEST_BOOT_IMAGE_DIR moves the cache.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./cli.js";

export const BOOT_IMAGE_DIR = process.env.LAB_TEST_BOOT_IMAGE_DIR || "/var/cache/lab-test/boot-image";
const SCRIPT = join(ROOT, "scripts/build-discovery-image.sh");

export interface BootImage {
  /** The Debian kernel (bzImage, EFI stub). */
  kernel: string;
  /** gzip'd newc initramfs: busybox, NIC/disk modules and packages/pxe/assets/init.sh as /init. */
  initrd: string;
  dir: string;
  /** The build script's output (what it did, or that it was up to date). */
  log: string;
}

const builds = new Map<string, Promise<BootImage>>();

/** Builds the discovery image into `dir` unless it is up to date; memoised per process. */
export function ensureBootImage(dir: string = BOOT_IMAGE_DIR, timeoutMs = 15 * 60_000): Promise<BootImage> {
  let build = builds.get(dir);
  if (!build) {
    build = runBuild(dir, timeoutMs);
    builds.set(dir, build);
    build.catch(() => builds.delete(dir));
  }
  return build;
}

function runBuild(dir: string, timeoutMs: number): Promise<BootImage> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT, dir], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const add = (c: Buffer) => {
      log = (log + c.toString()).slice(-64 * 1024);
    };
    child.stdout.on("data", add);
    child.stderr.on("data", add);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${SCRIPT} could not start: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ kernel: join(dir, "vmlinuz"), initrd: join(dir, "initrd.gz"), dir, log });
      else reject(new Error(`${SCRIPT} ${dir} failed (${code ?? signal}):\n${log.slice(-4000)}`));
    });
  });
}

export interface IpxeScriptOptions {
  /** URL of the kernel (vmlinuz). */
  kernelUrl: string;
  /** URL of the initrd; its last path segment names it for the EFI stub's `initrd=`. */
  initrdUrl: string;
  /** Kernel arguments, e.g. `lab.server=… lab.mode=discover`. */
  args: string[];
  /** A line iPXE prints before fetching (tests look for it on the serial console). */
  echo?: string;
}

/**
 * An iPXE script that boots the discovery image. `initrd=<name>` is on the command line because
 * Debian's iPXE (2019) hands initrds to an EFI kernel only through the EFI stub's initrd= loader;
 * under BIOS the kernel ignores it.
 */
export function ipxeBootScript(opts: IpxeScriptOptions): string {
  const name = new URL(opts.initrdUrl).pathname.split("/").pop() || "initrd.gz";
  return [
    "#!ipxe",
    ...(opts.echo ? [`echo ${opts.echo}`] : []),
    `kernel ${opts.kernelUrl} initrd=${name} ${opts.args.join(" ")}`,
    `initrd --name ${name} ${opts.initrdUrl}`,
    "boot",
    "",
  ].join("\n");
}
