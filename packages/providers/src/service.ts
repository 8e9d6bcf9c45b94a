/**
 * `lab plan|apply|destroy|diff|sync server`, whichever side runs them (the CLI in local mode,
 * lab server's routes): the model says what a server should be, its provider says what it is,
 * and every comparison is kept as the server's SYNC pillar, with an event when it changes.
 */
import {
  type ApplyResult,
  checkServerName,
  type Engine,
  Fleet,
  isLabError,
  LabError,
  modelFromResources,
  type NewAuditEvent,
  type Resource,
  type SourceFile,
  type SyncObservation,
  type SyncStore,
} from "@lab/core";
import { stringify } from "yaml";
import { resourceSpec } from "./resolve.js";
import type {
  ApplyOptions,
  DiffResult,
  ObservedResource,
  PlanResult,
  Progress,
  Provider,
  ResourceSpec,
} from "./types.js";

/** A server as `lab plan|apply server NAME --label … --provider …` describes it. */
export interface ServerDraft {
  provider?: string;
  labels?: string[];
  size?: string;
  image?: string;
  host?: string;
  mac?: string;
  environment?: string;
  attributes?: Record<string, unknown>;
  power?: Record<string, unknown>;
}

export interface ProviderServiceDeps {
  load(): Promise<Resource[]>;
  engine: Pick<Engine, "apply" | "delete">;
  sync: SyncStore;
  record(e: NewAuditEvent): Promise<unknown>;
  /** The provider named in a server's spec (throws LAB_E_PROVIDER_UNKNOWN for others). */
  provider(name: string): Provider;
  actor: string;
}

export interface ServerPlan {
  spec: ResourceSpec;
  plan: PlanResult;
  /** What happens to the model's object: created from the flags, changed by them, or kept. */
  model: "create" | "update" | "keep";
}

export interface ApplyOutcome extends ServerPlan {
  observed: ObservedResource | null;
  diff: DiffResult | null;
  applied: ApplyResult | null;
}

export class ProviderService {
  constructor(private readonly d: ProviderServiceDeps) {}

  /** The server's spec as the model (plus the draft, if any) resolves it for its provider. */
  private async specOf(
    name: string,
    draft?: ServerDraft,
  ): Promise<{ spec: ResourceSpec; model: ServerPlan["model"]; doc: string | null }> {
    checkServerName(name);
    const resources = await this.d.load();
    const existing = resources.find((r) => r.kind === "server" && r.name === name);
    const changes = draft ? definedOf(draft) : {};
    if (!existing && !changes.provider) {
      throw new LabError(
        "LAB_E_NOT_FOUND",
        `no server "${name}" in the model: give --provider (and --label) to plan a new one`,
      );
    }
    const before = (existing?.spec ?? {}) as Record<string, unknown>;
    const merged = { ...before, ...changes };
    // A draft's attributes are set one by one: the server's others stay (ssh_user beside bastion).
    if (changes.attributes && before.attributes)
      merged.attributes = { ...(before.attributes as object), ...(changes.attributes as object) };
    const changed = Object.keys(changes).some((k) => JSON.stringify(before[k]) !== JSON.stringify(merged[k]));
    const model: ServerPlan["model"] = !existing ? "create" : changed ? "update" : "keep";
    const resource = { kind: "server", name, spec: merged, origin: existing?.origin } as Resource;
    const others = resources.filter((r) => !(r.kind === "server" && r.name === name));
    const fleet = new Fleet(modelFromResources([...others, resource]));
    const doc = model === "keep" ? null : stringify({ servers: { [name]: merged } });
    return { spec: resourceSpec(fleet, name), model, doc };
  }

  async plan(name: string, draft?: ServerDraft): Promise<ServerPlan> {
    const { spec, model } = await this.specOf(name, draft);
    const plan = await this.d.provider(spec.provider).plan(spec);
    if (model !== "keep")
      plan.notes.unshift(
        `the model's server ${name} is ${model === "create" ? "created" : "updated"} first (as lab apply -f would)`,
      );
    return { spec, plan, model };
  }

  /** Carries out the plan: the model first (validated and audited as `lab apply`), then the provider. */
  async apply(
    name: string,
    draft: ServerDraft | undefined,
    progress: Progress = () => {},
    options: ApplyOptions = {},
  ): Promise<ApplyOutcome> {
    const planned = await this.plan(name, draft);
    const { doc } = await this.specOf(name, draft);
    let applied: ApplyResult | null = null;
    if (doc) {
      const file: SourceFile = { path: `<lab apply server ${name}>`, text: doc };
      applied = await this.d.engine.apply({ files: [file] });
      progress(`server ${name} ${planned.model === "create" ? "created" : "updated"} in the model`);
    }
    const provider = this.d.provider(planned.spec.provider);
    if (planned.plan.action === "none") {
      progress(`provider ${provider.name}: nothing to do`);
    } else {
      await this.guard(planned.spec, () =>
        provider.apply(planned.spec, (l) => progress(`${provider.name}: ${l}`), options),
      );
    }
    const diff = await this.observe(planned.spec, provider);
    return { ...planned, observed: diff.observed, diff, applied };
  }

  /** Compares spec and provider now, and keeps the result as the SYNC pillar. */
  async diff(name: string): Promise<{ spec: ResourceSpec; diff: DiffResult }> {
    const { spec } = await this.specOf(name);
    let provider: Provider;
    try {
      provider = this.d.provider(spec.provider);
    } catch (e) {
      // A provider Lab cannot drive reports nothing: refuse rather than answer "no drift".
      if (isLabError(e) && e.code === "LAB_E_PROVIDER_UNKNOWN")
        throw new LabError(
          "LAB_E_NOT_OBSERVED",
          `cannot compare ${name} with its actual state: provider "${spec.provider}" does not report servers' state (${e.message.replace(/^provider "[^"]+" is /, "it is ")})`,
        );
      throw e;
    }
    return { spec, diff: await this.observe(spec, provider) };
  }

  /** Reconciles a server that exists at its provider with its spec (`lab sync server`). */
  async sync(name: string, progress: Progress = () => {}): Promise<ApplyOutcome> {
    const { spec } = await this.specOf(name);
    const provider = this.d.provider(spec.provider);
    const plan = await provider.plan(spec);
    if (plan.action === "create") {
      throw new LabError(
        "LAB_E_NOT_FOUND",
        `${name} does not exist at provider ${provider.name}: \`lab apply server ${name}\` creates it`,
      );
    }
    if (plan.steps.length === 0 && plan.unreconcilable.length) {
      const diff = await this.observe(spec, provider);
      throw new LabError(
        "LAB_E_PROVIDER_UNSUPPORTED",
        `${name}: provider ${provider.name} cannot reconcile ${plan.unreconcilable.map((d) => d.field).join(", ")} (${plan.unreconcilable[0]?.reconcile}); ${diff.differences.length} difference(s) remain`,
      );
    }
    if (plan.steps.length)
      await this.guard(spec, () => provider.apply(spec, (l) => progress(`${provider.name}: ${l}`)));
    else progress(`${name} already matches its spec`);
    const diff = await this.observe(spec, provider);
    return { spec, plan, model: "keep", observed: diff.observed, diff, applied: null };
  }

  async planDestroy(name: string): Promise<ServerPlan> {
    const { spec } = await this.specOf(name);
    const observed = await this.d.provider(spec.provider).get(spec);
    const plan: PlanResult = {
      server: name,
      provider: spec.provider,
      action: observed ? "destroy" : "none",
      steps: [
        ...(observed
          ? [
              {
                op: "destroy" as const,
                what: `${spec.provider} resource ${observed.id} (${observed.detail})`,
              },
            ]
          : []),
        { op: "destroy", what: `server ${name} in the model` },
      ],
      unreconcilable: [],
      notes: observed ? [] : [`provider ${spec.provider} holds nothing for ${name}`],
    };
    return { spec, plan, model: "keep" };
  }

  /** Removes the resource at its provider, then the server from the model. */
  async destroy(name: string, progress: Progress = () => {}): Promise<ServerPlan> {
    const planned = await this.planDestroy(name);
    const provider = this.d.provider(planned.spec.provider);
    if (planned.plan.action === "destroy")
      await this.guard(planned.spec, () =>
        provider.destroy(planned.spec, (l) => progress(`${provider.name}: ${l}`)),
      );
    await this.d.sync.deleteSyncObservation(name);
    await this.d.engine.delete("server", name);
    progress(`server ${name} deleted from the model`);
    return planned;
  }

  /** Runs a provider call; a failure is kept as the SYNC pillar (✗ failed) before it is thrown. */
  private async guard<T>(spec: ResourceSpec, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      await this.keep(spec, {
        state: "failed",
        summary: (e as Error).message.slice(0, 300),
        differences: [],
        ...(isLabError(e) ? { code: e.code } : {}),
      });
      throw e;
    }
  }

  private async observe(spec: ResourceSpec, provider: Provider): Promise<DiffResult> {
    const diff = await this.guard(spec, () => provider.diff(spec));
    const n = diff.differences.length;
    await this.keep(spec, {
      state: !diff.observed ? "absent" : n ? "drift" : "sync",
      summary: !diff.observed
        ? `provider ${spec.provider} has no such resource`
        : n
          ? `${n} difference${n === 1 ? "" : "s"}: ${diff.differences.map((d) => d.field).join(", ")}`
          : "in sync",
      differences: diff.differences.map(({ field, kind, spec: s, observed }) => ({
        field,
        kind,
        spec: s,
        observed,
      })),
    });
    return diff;
  }

  /** Keeps the observation; a change of state (sync → drift, drift → sync, → failed) is an event. */
  private async keep(
    spec: ResourceSpec,
    o: Omit<SyncObservation, "server" | "provider" | "observedAt">,
  ): Promise<void> {
    const full: SyncObservation = {
      server: spec.name,
      provider: spec.provider,
      observedAt: new Date().toISOString(),
      ...o,
    };
    const before = await this.d.sync.putSyncObservation(full);
    if (before?.state === full.state && before.summary === full.summary) return;
    if (!before && full.state === "sync") return;
    const word = { sync: "in sync", drift: "drift", absent: "absent", failed: "provider failed" }[full.state];
    await this.d.record({
      actor: this.d.actor,
      action: full.state === "sync" ? "sync" : "drift",
      result: full.state === "sync" ? "ok" : "error",
      summary: `${spec.name}: ${word} (provider ${spec.provider}): ${full.summary}`,
      changes: [],
      subjects: [`server/${spec.name}`],
    });
  }
}

function definedOf(d: ServerDraft): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(d).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  );
}
