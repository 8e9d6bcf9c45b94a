/**
 * `lab build --label L`: the label's Puppet classes → a container image, built by buildah
 * (vfs storage, chroot isolation in an empty network namespace, no daemon, no network), with a progress line
 * per build step. `lab get containers` lists the images Lab built (buildah's, labelled
 * io.lab.label). Neither needs lab server: images live in this machine's buildah storage.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { artifactTag, containerfile, LabError } from "@lab/core";
import type { Command } from "commander";
import type { CommandContext } from "./command-context.js";

type Ctx = CommandContext;

export const DEFAULT_BASE = "localhost/lab-base:bookworm-puppet";

/** buildah with Lab's storage choice: vfs (works in any container, no fuse), an optional root. */
function buildahArgs(env: NodeJS.ProcessEnv): string[] {
  const root = env.LAB_BUILDAH_ROOT;
  return ["--storage-driver", "vfs", ...(root ? ["--root", root, "--runroot", join(root, "run")] : [])];
}

function requireBuildah(): void {
  if (spawnSync("buildah", ["--version"]).status !== 0) {
    throw new LabError("LAB_E_BUILD", "buildah is not installed: apt-get install buildah");
  }
}

export interface ContainerRow {
  name: string;
  image: string;
  label: string;
  classes: string[];
  created: string;
  sizeBytes: number | null;
  /** The cluster running it, "none" when every cluster answered without it, null when unknown. */
  cluster: string | null;
  /** "built", or the deployment's status and ready/desired pods (commands/containers.ts). */
  status: string;
  replicas?: { ready: number; desired: number };
  /** namespace/name of the deployment running it. */
  deployment?: string;
  /** Each cluster that could not be asked, and why (so `cluster` null, or maybe elsewhere too). */
  clusterUnknown?: string[];
}

export function registerBuildCommands(program: Command, ctx: Ctx): void {
  program
    .command("build")
    .description("bake a label's Puppet classes into a container image (buildah)")
    .requiredOption("-l, --label <label>", "the label whose classes to apply")
    .option("--from <image>", "base image holding Puppet", DEFAULT_BASE)
    .option("--modulepath <dirs>", "Puppet modules, ':'-separated (default LAB_PUPPET_MODULEPATH)")
    .option("--registry <prefix>", "tag prefix", "localhost/lab")
    .option("--dry-run", "print the Containerfile; build nothing")
    .action(
      async (opts: {
        label: string;
        from: string;
        modulepath?: string;
        registry: string;
        dryRun?: boolean;
      }) => {
        const engine = (await ctx.open()).engine;
        const label = (await engine.list("label")).find((l) => l.name === opts.label);
        if (!label) throw new LabError("LAB_E_NOT_FOUND", `label "${opts.label}" not found`);
        const file = containerfile({
          label: label.name,
          classes: label.classes,
          ports: label.ports,
          base: opts.from,
        });
        if (opts.dryRun) return ctx.print(file);
        requireBuildah();
        const dirs = (opts.modulepath ?? ctx.io.env.LAB_PUPPET_MODULEPATH ?? "").split(":").filter(Boolean);
        if (dirs.length === 0) {
          throw new LabError(
            "LAB_E_BUILD",
            "no Puppet modules: pass --modulepath or set LAB_PUPPET_MODULEPATH",
          );
        }
        const tag = artifactTag(opts.registry, label.name, new Date());
        const context = mkdtempSync(join(tmpdir(), "lab-build-"));
        try {
          // Later directories do not overwrite earlier ones: the first on the path wins, as in Puppet.
          for (const d of [...dirs].reverse()) {
            if (!existsSync(d)) throw new LabError("LAB_E_BUILD", `module directory ${d} does not exist`);
            cpSync(d, join(context, "modules"), { recursive: true, dereference: true });
          }
          writeFileSync(join(context, "Containerfile"), file);
          ctx.print(`Building ${label.name} from puppet classes:\n`);
          const started = Date.now();
          await runBuild(ctx, [
            ...buildahArgs(ctx.io.env),
            "build",
            "--isolation",
            "chroot",
            "--layers=false",
            "-f",
            join(context, "Containerfile"),
            "-t",
            tag,
            context,
          ]);
          for (const c of label.classes) ctx.print(`  ${ctx.out.green("✓")} ${c}\n`);
          ctx.print(`→ ${tag} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
        } finally {
          rmSync(context, { recursive: true, force: true });
        }
      },
    );
}

/** Runs buildah, printing one progress line per STEP; the whole log on failure. */
function runBuild(ctx: Ctx, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // chroot isolation runs RUN steps in buildah's own network namespace, so buildah itself runs
    // in a new, empty one: Puppet and Facter inside the build reach nothing (no network).
    const child = spawn("unshare", ["--net", "buildah", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: ctx.io.env,
    });
    let log = "";
    let pending = "";
    const onData = (c: Buffer) => {
      log += String(c);
      pending += String(c);
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const step = /^STEP (\d+\/\d+): (.*)$/.exec(line);
        if (step) ctx.print(ctx.out.dim(`  [${step[1]}] ${(step[2] ?? "").slice(0, 88)}\n`));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) return resolve();
      ctx.io.stderr.write(log.split("\n").slice(-40).join("\n"));
      reject(new LabError("LAB_E_BUILD", `buildah build failed (exit ${code}): the log's end is above`));
    });
  });
}

/** The images Lab built, newest first. Deployment to a cluster is not tracked yet: "—". */
/**
 * When an image was made, as an ISO time: buildah's `createdat` is relative prose ("2 minutes
 * ago"), which neither sorts nor stays the same between two listings.
 */
function createdAt(img: { createdatraw?: string; created?: number }): string {
  const t = img.createdatraw ? Date.parse(img.createdatraw) : (img.created ?? Number.NaN) * 1000;
  return Number.isFinite(t) ? new Date(t).toISOString() : "";
}

export function listContainers(env: NodeJS.ProcessEnv): ContainerRow[] {
  requireBuildah();
  const r = spawnSync("buildah", [...buildahArgs(env), "images", "--json"], { encoding: "utf8" });
  if (r.status !== 0) throw new LabError("LAB_E_BUILD", `buildah images failed: ${r.stderr.trim()}`);
  const images = JSON.parse(r.stdout || "[]") as {
    id: string;
    names?: string[];
    createdat?: string;
    createdatraw?: string;
    created?: number;
    size?: string;
  }[];
  const rows: ContainerRow[] = [];
  for (const img of images) {
    const inspect = spawnSync("buildah", [...buildahArgs(env), "inspect", "--type", "image", img.id], {
      encoding: "utf8",
    });
    if (inspect.status !== 0) continue;
    const labels = (JSON.parse(inspect.stdout).OCIv1?.config?.Labels ?? {}) as Record<string, string>;
    const label = labels["io.lab.label"];
    if (!label) continue;
    for (const name of img.names ?? []) {
      rows.push({
        name: label,
        image: name,
        label,
        classes: (labels["io.lab.classes"] ?? "").split(",").filter(Boolean),
        created: createdAt(img),
        sizeBytes: null,
        cluster: null,
        status: "built",
        clusterUnknown: ["the clusters were not asked"],
      });
    }
  }
  return rows;
}
