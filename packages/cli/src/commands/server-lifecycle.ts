/**
 * `lab plan|apply|destroy|diff|sync server NAME`: the provider lifecycle (docs/providers.md).
 * Local mode runs the providers in this process over the local state; client mode asks lab
 * server, which runs them with its own configuration. Either way the plan is printed first and
 * nothing is done without a yes (--yes, or an answer at a terminal).
 */
import { LabError } from "@lab/core";
import type {
  ApplyOptions,
  ApplyOutcome,
  DiffResult,
  ProviderService,
  ResourceSpec,
  ServerDraft,
  ServerPlan,
} from "@lab/providers";
import { labHome, type Session } from "../context.js";
import type { CommandContext } from "./command-context.js";
import { confirmPlan } from "./confirm.js";
import { powerClient } from "./power.js";
import { localProvisioning } from "./provision.js";

/** The lifecycle operations, whichever side runs them; `progress` gets each line as it happens. */
export interface LifecycleClient {
  plan(name: string, draft?: ServerDraft): Promise<ServerPlan>;
  apply(
    name: string,
    draft: ServerDraft | undefined,
    progress: (l: string) => void,
    options?: ApplyOptions,
  ): Promise<ApplyOutcome>;
  diff(name: string): Promise<{ spec: ResourceSpec; diff: DiffResult }>;
  sync(name: string, progress: (l: string) => void): Promise<ApplyOutcome>;
  planDestroy(name: string): Promise<ServerPlan>;
  destroy(name: string, progress: (l: string) => void): Promise<ServerPlan>;
}

/** Client mode's replies carry the progress lines the server printed. */
type WithProgress<T> = T & { progress: string[] };

export async function lifecycleClient(
  session: Session,
  env: NodeJS.ProcessEnv,
  actor: string,
): Promise<LifecycleClient> {
  const remote = session.remote;
  if (remote) {
    const path = (name: string, op: string) => `/api/v1/servers/${encodeURIComponent(name)}/${op}`;
    const replay = <T>(p: Promise<WithProgress<T>>, progress: (l: string) => void) =>
      p.then((r) => {
        for (const l of r.progress) progress(l);
        return r;
      });
    return {
      plan: (name, draft) => remote.request("POST", path(name, "plan"), draft ?? {}),
      apply: (name, draft, progress, options) =>
        replay(
          remote.request(
            "POST",
            `${path(name, "apply")}${options?.wait === false ? "?wait=false" : ""}`,
            draft ?? {},
          ),
          progress,
        ),
      diff: (name) => remote.request("GET", path(name, "diff")),
      sync: (name, progress) => replay(remote.request("POST", path(name, "sync"), {}), progress),
      planDestroy: (name) => remote.request("POST", path(name, "destroy"), { dryRun: true }),
      destroy: (name, progress) => replay(remote.request("POST", path(name, "destroy"), {}), progress),
    };
  }
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local providers need the local store");
  const service: ProviderService = await localProviderService(session, env, actor);
  return {
    plan: (n, d) => service.plan(n, d),
    apply: (n, d, p, o) => service.apply(n, d, p, o),
    diff: (n) => service.diff(n),
    sync: (n, p) => service.sync(n, p),
    planDestroy: (n) => service.planDestroy(n),
    destroy: (n, p) => service.destroy(n, p),
  };
}

async function localProviderService(
  session: Session,
  env: NodeJS.ProcessEnv,
  actor: string,
): Promise<ProviderService> {
  const store = session.store;
  if (!store) throw new LabError("LAB_E_INTERNAL", "local providers need the local store");
  const { BaremetalProvider, ProviderService, providerRegistry } = await import("@lab/providers");
  // Bare metal runs on this process's provisioner and power drivers, opened on first use.
  const once = <T>(open: () => Promise<T>) => {
    let p: Promise<T> | undefined;
    return () => (p ??= open());
  };
  const machines = once(() => localProvisioning(session, env));
  const power = once(() => powerClient(session, env, actor, () => {}));
  const agents = once(async () => {
    const repo = (await import("@lab/store")).identityRepo(store);
    return { find: (name: string) => repo.getAgent(name) };
  });
  return new ProviderService({
    load: () => store.load(),
    engine: session.engine,
    sync: store,
    record: (e) => store.record(e),
    provider: providerRegistry({
      env,
      home: labHome(env),
      extra: {
        baremetal: () =>
          new BaremetalProvider({
            machines,
            power,
            agents,
            ...(env.LAB_BAREMETAL_WAIT_MS ? { waitMs: Number(env.LAB_BAREMETAL_WAIT_MS) } : {}),
          }),
      },
    }),
    actor,
  });
}

export type { CommandContext };

import { formatDiff, formatPlan, type PlanResult } from "@lab/providers";
import type { Command } from "commander";
import type { Format } from "../program.js";

interface Ctx extends CommandContext {
  actor: string;
  ask: (q: string) => Promise<string>;
}

/** The draft flags `plan server` and `apply server` share. */
export function draftOptions(cmd: Command): Command {
  return cmd
    .option("--provider <name>", "where the server lives: ssh, baremetal, libvirt, aws")
    .option("--label <labels...>", "its labels (comma-separated or repeated)")
    .option("--size <size>", "its size (`sizes:`), instead of its labels'")
    .option("--image <image>", "its image")
    .option("--host <host>", "its address (ssh)")
    .option("--mac <mac>", "its MAC (baremetal)")
    .option("--environment <env>", "its environment");
}

interface DraftOpts {
  provider?: string;
  label?: string[];
  size?: string;
  image?: string;
  host?: string;
  mac?: string;
  environment?: string;
}

export function draftOf(o: DraftOpts): ServerDraft | undefined {
  const labels = o.label
    ?.flatMap((l) => l.split(","))
    .map((l) => l.trim())
    .filter(Boolean);
  const d: ServerDraft = {
    ...(o.provider ? { provider: o.provider } : {}),
    ...(labels?.length ? { labels } : {}),
    ...(o.size ? { size: o.size } : {}),
    ...(o.image ? { image: o.image } : {}),
    ...(o.host ? { host: o.host } : {}),
    ...(o.mac ? { mac: o.mac } : {}),
    ...(o.environment ? { environment: o.environment } : {}),
  };
  return Object.keys(d).length ? d : undefined;
}

function serverWord(word: string): void {
  if (!/^servers?$/i.test(word)) throw new LabError("LAB_E_USAGE", `expected "server", got "${word}"`);
}

/** The comparison that followed an apply: in sync, absent, or which differences remain. */
export function outcomeLine(
  o: Pick<ApplyOutcome, "diff" | "spec">,
  ctx: Pick<CommandContext, "out">,
): string {
  const d = o.diff;
  if (!d) return "";
  if (!d.observed)
    return `${ctx.out.red("✗")} ${o.spec.name}: provider ${o.spec.provider} has no such resource\n`;
  if (d.differences.length === 0)
    return `${ctx.out.green("✓")} ${o.spec.name}: in sync (provider ${o.spec.provider}, ${d.observed.detail})\n`;
  return `${ctx.out.yellow("⚠")} ${o.spec.name}: ${d.differences.length} difference(s) remain: ${d.differences.map((x) => x.field).join(", ")}\n`;
}

/** `lab apply server NAME …`: plan, ask, apply, then the comparison that followed. */
export async function applyServerCommand(
  ctx: Ctx,
  name: string,
  opts: DraftOpts & { yes?: boolean; output: Format },
): Promise<void> {
  const client = await lifecycleClient(await ctx.open(), ctx.io.env, ctx.actor);
  const draft = draftOf(opts);
  const planned = await client.plan(name, draft);
  if (opts.output === "table" || opts.output === "wide") ctx.print(formatPlan(planned.plan, ctx.out));
  if (planned.plan.steps.length || planned.model !== "keep")
    await confirmPlan(ctx.ask, opts.yes, "apply this plan");
  const outcome = await client.apply(name, draft, (l) => {
    if (opts.output === "table" || opts.output === "wide") ctx.print(`  → ${l}\n`);
  });
  ctx.emit(opts.output, outcome, () => outcomeLine(outcome, ctx));
}

export function registerServerLifecycleCommands(program: Command, ctx: Ctx): void {
  const output = (cmd: Command) => cmd.option("-o, --output <format>", "table, json or yaml", "table");
  draftOptions(
    output(
      program
        .command("plan")
        .description("what `lab apply server` would create, change or destroy at the provider")
        .argument("<kind>", "server")
        .argument("<name>"),
    ),
  ).action(async (word: string, name: string, opts: DraftOpts & { output: Format }) => {
    serverWord(word);
    const client = await lifecycleClient(await ctx.open(), ctx.io.env, ctx.actor);
    const planned = await client.plan(name, draftOf(opts));
    ctx.emit(opts.output, planned, () => formatPlan(planned.plan, ctx.out));
  });

  output(
    program
      .command("destroy")
      .description("remove a server at its provider (a VM and its volumes, an instance), then from the model")
      .argument("<kind>", "server")
      .argument("<name>")
      .option("-y, --yes", "do not ask before destroying"),
  ).action(async (word: string, name: string, opts: { yes?: boolean; output: Format }) => {
    serverWord(word);
    const client = await lifecycleClient(await ctx.open(), ctx.io.env, ctx.actor);
    const planned = await client.planDestroy(name);
    const human = opts.output === "table";
    if (human)
      ctx.print(
        formatPlan(planned.plan, ctx.out, `Destroy server ${name} (provider ${planned.spec.provider}):`),
      );
    await confirmPlan(ctx.ask, opts.yes, "destroy it");
    const done = await client.destroy(name, (l) => human && ctx.print(`  → ${l}\n`));
    ctx.emit(opts.output, done, () => `${ctx.out.green("✓")} ${name} destroyed\n`);
  });

  output(
    program
      .command("sync")
      .description("reconcile a server with its spec where the provider can (lab diff shows what differs)")
      .argument("<kind>", "server")
      .argument("<name>")
      .option("-y, --yes", "do not ask before changing it"),
  ).action(async (word: string, name: string, opts: { yes?: boolean; output: Format }) => {
    serverWord(word);
    const client = await lifecycleClient(await ctx.open(), ctx.io.env, ctx.actor);
    const human = opts.output === "table";
    const planned = await client.plan(name);
    if (human)
      ctx.print(
        formatPlan(planned.plan, ctx.out, `Sync server ${name} (provider ${planned.spec.provider}):`),
      );
    if (planned.plan.steps.length) await confirmPlan(ctx.ask, opts.yes, "sync it");
    const outcome = await client.sync(name, (l) => human && ctx.print(`  → ${l}\n`));
    ctx.emit(opts.output, outcome, () => outcomeLine(outcome, ctx));
  });
}

/** `lab diff server NAME`: asks the provider now; the answer becomes the SYNC pillar. */
export async function diffServerCommand(
  ctx: CommandContext & { actor: string },
  name: string,
  output: Format,
): Promise<void> {
  const client = await lifecycleClient(await ctx.open(), ctx.io.env, ctx.actor);
  const { spec, diff } = await client.diff(name);
  ctx.emit(output, diff, () => formatDiff(diff, ctx.out, spec.size));
}

export type { PlanResult };
