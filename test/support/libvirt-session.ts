/**
 * A private libvirt daemon for provider tests: libvirtd in session mode, run as `nobody` with
 * its runtime, config and storage under a temp dir, reached as
 * qemu+unix:///session?socket=DIR/run/libvirt/libvirt-sock. Nothing is shared with a system
 * libvirtd another test may start or stop (no systemd here), and everything goes with `stop()`:
 * the domains Lab left, the QEMU processes the daemon started, the daemon, the directory.
 * A missing binary fails with the apt-get command to run.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { until } from "./wait.js";

const NOBODY = 65534;
const INSTALL =
  "apt-get install -y libvirt-daemon libvirt-clients libvirt-daemon-driver-qemu qemu-system-x86";

export interface LibvirtSession {
  uri: string;
  pool: string;
  dir: string;
  /** `virsh -q -c URI args…`, for reading and changing things around Lab. */
  virsh(...args: string[]): string;
  stop(): Promise<void>;
}

function need(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${INSTALL} (or scripts/ensure-peers.sh)`);
}

export async function startLibvirtSession(prefix = "lab-h16a-lv-"): Promise<LibvirtSession> {
  for (const p of ["/usr/sbin/libvirtd", "/usr/bin/virsh", "/usr/bin/qemu-system-x86_64", "/usr/bin/setpriv"])
    need(p);
  // /dev/shm or /tmp: the directory must be reachable by `nobody` (the VM volumes live in it).
  const dir = mkdtempSync(join("/tmp", prefix));
  const home = join(dir, "home");
  const run = join(dir, "run");
  for (const d of [home, run, join(dir, "pool")]) mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const d of [dir, home, run, join(dir, "pool")]) chownSync(d, NOBODY, NOBODY);
  const env = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: home,
    XDG_RUNTIME_DIR: run,
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_DATA_HOME: join(home, ".local/share"),
  };
  // setpriv drops to nobody and keeps the daemon tied to this worker (pdeathsig).
  const daemon: ChildProcess = spawn(
    "/usr/bin/setpriv",
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--pdeathsig", "KILL", "/usr/sbin/libvirtd"],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  daemon.stdout?.on("data", (d) => {
    log = (log + d).slice(-20_000);
  });
  daemon.stderr?.on("data", (d) => {
    log = (log + d).slice(-20_000);
  });
  const socket = join(run, "libvirt/libvirt-sock");
  const uri = `qemu+unix:///session?socket=${socket}`;
  const virsh = (...args: string[]) =>
    execFileSync("/usr/bin/virsh", ["-q", "-c", uri, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  await until(
    `libvirtd (session, as nobody) on ${socket}: ${log}`,
    () => {
      if (daemon.exitCode !== null) throw new Error(`libvirtd exited ${daemon.exitCode}: ${log}`);
      try {
        virsh("version");
        return true;
      } catch {
        return false;
      }
    },
    60_000,
  );
  const pool = "lab";
  virsh("pool-define-as", pool, "dir", "--target", join(dir, "pool"));
  virsh("pool-start", pool);
  return {
    uri,
    pool,
    dir,
    virsh,
    async stop() {
      try {
        for (const name of virsh("list", "--all", "--name").split("\n").filter(Boolean)) {
          try {
            virsh("destroy", name);
          } catch {
            // not running
          }
          virsh("undefine", name, "--remove-all-storage");
        }
      } catch {
        // the daemon is gone already: its QEMU processes are killed below by pid file
      }
      const pids = join(run, "libvirt/qemu/run");
      for (const f of existsSync(pids) ? readdirSync(pids).filter((x) => x.endsWith(".pid")) : []) {
        const pid = Number(readFileSync(join(pids, f), "utf8").trim());
        if (pid > 1) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // exited
          }
        }
      }
      if (daemon.exitCode === null) {
        daemon.kill("SIGTERM");
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            daemon.kill("SIGKILL");
            r();
          }, 5000);
          daemon.once("exit", () => {
            clearTimeout(t);
            r();
          });
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
