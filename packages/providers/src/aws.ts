/**
 * `provider: aws` — an EC2 instance per server, through the AWS SDK v3 (@aws-sdk/client-ec2).
 * The instance carries the tags Name and lab:server; its size is the size's
 * `providers.aws.instance_type`, its image `image:`'s `providers.aws.ami` (or an ami-… name).
 * Changing the instance type is stop → modify → start, as EC2 requires. Credentials and region
 * come from the SDK's own chain (AWS_REGION, AWS_PROFILE, instance roles); no AWS is reachable
 * here, so its contract suite runs on recorded responses (test/support/ec2-recorded.ts).
 */
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  type EC2ClientConfig,
  type Instance,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { LabError } from "@lab/core";
import { compare, planFrom, type Reconcilable } from "./compare.js";
import { catalogueSizes, type SizeCatalogue } from "./sizes.js";
import type {
  DiffResult,
  Filters,
  ObservedResource,
  PlanResult,
  Progress,
  Provider,
  ProviderImage,
  ProviderSize,
  ResourceSpec,
} from "./types.js";
import { formatMiB } from "./units.js";

export interface AwsProviderOptions {
  /** Passed to EC2Client: region, credentials, endpoint, requestHandler (the recorded one in tests). */
  client?: EC2ClientConfig;
  sizes?: SizeCatalogue;
  /** How long to wait between polls while an instance stops (ms). */
  pollMs?: number;
  /** How long an instance may take to stop (ms). */
  stopTimeoutMs?: number;
}

const TAG = "lab:server";
const LIVE = ["pending", "running", "stopping", "stopped"];
const CAN: Reconcilable = {
  instance_type: true,
  why: "EC2 changes this only by replacing the instance (lab destroy, then lab apply)",
};

export class AwsProvider implements Provider {
  readonly name = "aws";
  private readonly ec2: EC2Client;
  private readonly where: string;

  constructor(private readonly o: AwsProviderOptions = {}) {
    this.ec2 = new EC2Client({ maxAttempts: 2, ...o.client });
    this.where = String(
      o.client?.endpoint ??
        `EC2 in ${String(o.client?.region ?? process.env.AWS_REGION ?? "the SDK's default region")}`,
    );
  }

  /** Runs one EC2 call; the SDK's failures become Lab's codes. */
  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      const err = e as Error & { name?: string; code?: string; $metadata?: unknown };
      const name = err.name ?? "";
      if (
        /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|TimeoutError|socket hang up/i.test(
          `${err.code} ${name} ${err.message}`,
        )
      ) {
        throw new LabError("LAB_E_PROVIDER_UNREACHABLE", `aws: ${what} at ${this.where}: ${err.message}`);
      }
      if (
        /AuthFailure|UnauthorizedOperation|InvalidClientTokenId|SignatureDoesNotMatch|CredentialsProviderError/.test(
          name,
        )
      ) {
        throw new LabError("LAB_E_PROVIDER_AUTH", `aws: ${what}: ${name}: ${err.message}`);
      }
      throw new LabError("LAB_E_PROVIDER_REFUSED", `aws: ${what}: ${name ? `${name}: ` : ""}${err.message}`);
    }
  }

  private async instances(filters: { Name: string; Values: string[] }[]): Promise<Instance[]> {
    const out = await this.call("DescribeInstances", () =>
      this.ec2.send(
        new DescribeInstancesCommand({
          Filters: [...filters, { Name: "instance-state-name", Values: LIVE }],
        }),
      ),
    );
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  }

  private observed(i: Instance, name?: string): ObservedResource {
    const tag = (k: string) => i.Tags?.find((t) => t.Key === k)?.Value;
    const state = i.State?.Name ?? "unknown";
    return {
      id: i.InstanceId ?? "?",
      name: name ?? tag(TAG) ?? tag("Name") ?? i.InstanceId ?? "?",
      provider: this.name,
      state:
        state === "running"
          ? "running"
          : state === "stopped"
            ? "stopped"
            : state === "pending"
              ? "pending"
              : "unknown",
      cores: null,
      memoryMiB: null,
      instanceType: i.InstanceType ?? null,
      // The root volume is listed; its size is DescribeVolumes' to say, which is not asked.
      disks: (i.BlockDeviceMappings ?? []).map((b) => ({
        name: b.DeviceName ?? "?",
        sizeMiB: null,
        ...(b.Ebs?.VolumeId ? { source: b.Ebs.VolumeId } : {}),
      })),
      mounts: null,
      network: (i.NetworkInterfaces ?? []).map((n, k) => ({
        name: n.NetworkInterfaceId ?? `eni${k}`,
        mac: n.MacAddress ?? null,
        ipv4: n.PrivateIpAddress ? [n.PrivateIpAddress] : [],
      })),
      detail: `instance ${i.InstanceId} ${state}`,
    };
  }

  async get(spec: ResourceSpec): Promise<ObservedResource | null> {
    const [first] = await this.instances([{ Name: `tag:${TAG}`, Values: [spec.name] }]);
    return first ? this.observed(first, spec.name) : null;
  }

  /** The spec as EC2 compares it: by instance type (cores and memory are the type's). */
  private effective(spec: ResourceSpec): ResourceSpec {
    return { ...spec, host: null, sizing: { ...spec.sizing, cores: null, memoryMiB: null, diskMiB: null } };
  }

  async diff(spec: ResourceSpec): Promise<DiffResult> {
    return compare(this.effective(spec), await this.get(spec), CAN, [
      "disk sizes (DescribeVolumes is not asked)",
      "mounts (inside the instance)",
    ]);
  }

  private type(spec: ResourceSpec): string {
    const t = spec.sizing.instanceType;
    if (!t)
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `${spec.name}: size ${spec.size ?? "(none)"} names no instance type for aws: add providers: {aws: {instance_type: t3.large}} to it`,
      );
    return t;
  }

  private ami(spec: ResourceSpec): string {
    const ref = spec.image?.ref ?? (spec.image?.name.startsWith("ami-") ? spec.image.name : null);
    if (!ref)
      throw new LabError(
        "LAB_E_PROVIDER_NOT_CONFIGURED",
        `${spec.name}: aws needs an AMI: give the server image: ami-… or an image with providers: {aws: {ami: ami-…}}`,
      );
    return ref;
  }

  async plan(spec: ResourceSpec): Promise<PlanResult> {
    const diff = await this.diff(spec);
    const creates = diff.observed
      ? []
      : [
          {
            op: "create" as const,
            what: `instance ${this.type(spec)} from ${this.ami(spec)} (${this.where})`,
          },
          ...(spec.sizing.diskMiB
            ? [{ op: "create" as const, what: `root volume ${formatMiB(spec.sizing.diskMiB)} gp3` }]
            : []),
          { op: "create" as const, what: `tags Name=${spec.name}, ${TAG}=${spec.name}` },
        ];
    const plan = planFrom(spec, diff, creates);
    if (plan.steps.some((s) => s.what === "instance type"))
      plan.notes.push("the instance is stopped, changed and started again");
    return plan;
  }

  async apply(spec: ResourceSpec, progress: Progress = () => {}): Promise<ObservedResource> {
    const existing = await this.get(spec);
    if (!existing) {
      const type = this.type(spec);
      progress(`running an instance ${type} from ${this.ami(spec)}`);
      const gib = spec.sizing.diskMiB ? Math.max(1, Math.ceil(spec.sizing.diskMiB / 1024)) : null;
      const out = await this.call("RunInstances", () =>
        this.ec2.send(
          new RunInstancesCommand({
            ImageId: this.ami(spec),
            InstanceType: type as never,
            MinCount: 1,
            MaxCount: 1,
            ...(gib
              ? {
                  BlockDeviceMappings: [
                    { DeviceName: "/dev/xvda", Ebs: { VolumeSize: gib, VolumeType: "gp3" } },
                  ],
                }
              : {}),
            TagSpecifications: [
              {
                ResourceType: "instance",
                Tags: [
                  { Key: "Name", Value: spec.name },
                  { Key: TAG, Value: spec.name },
                ],
              },
            ],
          }),
        ),
      );
      progress(
        `instance ${out.Instances?.[0]?.InstanceId ?? "?"} ${out.Instances?.[0]?.State?.Name ?? ""}`.trim(),
      );
    } else {
      const want = this.type(spec);
      if (existing.instanceType !== want) await this.resize(existing, want, progress);
      else progress(`${spec.name} already matches its spec`);
    }
    const now = await this.get(spec);
    if (!now)
      throw new LabError("LAB_E_PROVIDER_REFUSED", `aws: ${spec.name}'s instance is not listed after apply`);
    return now;
  }

  private async resize(o: ObservedResource, type: string, progress: Progress): Promise<void> {
    const ids = [o.id];
    if (o.state !== "stopped") {
      progress(`stopping ${o.id} to change its type ${o.instanceType} → ${type}`);
      await this.call("StopInstances", () => this.ec2.send(new StopInstancesCommand({ InstanceIds: ids })));
      const deadline = Date.now() + (this.o.stopTimeoutMs ?? 600_000);
      for (;;) {
        const [i] = await this.instances([{ Name: "instance-id", Values: ids }]);
        if (i?.State?.Name === "stopped") break;
        if (Date.now() > deadline)
          throw new LabError(
            "LAB_E_PROVIDER_REFUSED",
            `aws: ${o.id} did not stop in time (it is ${i?.State?.Name})`,
          );
        await new Promise((r) => setTimeout(r, this.o.pollMs ?? 5000));
      }
    }
    progress(`changing ${o.id} to ${type}`);
    await this.call("ModifyInstanceAttribute", () =>
      this.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: o.id, InstanceType: { Value: type } })),
    );
    progress(`starting ${o.id}`);
    await this.call("StartInstances", () => this.ec2.send(new StartInstancesCommand({ InstanceIds: ids })));
  }

  async destroy(spec: ResourceSpec, progress: Progress = () => {}): Promise<void> {
    const o = await this.get(spec);
    if (!o) {
      progress(`no instance tagged ${TAG}=${spec.name}: nothing to destroy`);
      return;
    }
    progress(`terminating ${o.id}`);
    await this.call("TerminateInstances", () =>
      this.ec2.send(new TerminateInstancesCommand({ InstanceIds: [o.id] })),
    );
  }

  async list(filters: Filters = {}): Promise<ObservedResource[]> {
    return (await this.instances(filters.managed ? [{ Name: "tag-key", Values: [TAG] }] : [])).map((i) =>
      this.observed(i),
    );
  }

  discover(): Promise<ObservedResource[]> {
    return this.list();
  }

  async sizes(): Promise<ProviderSize[]> {
    return catalogueSizes(this.o.sizes ?? {}, this.name, (s) => s.instanceType ?? "— (no instance_type)");
  }

  /** The account's own AMIs. */
  async images(): Promise<ProviderImage[]> {
    const out = await this.call("DescribeImages", () =>
      this.ec2.send(new DescribeImagesCommand({ Owners: ["self"] })),
    );
    return (out.Images ?? []).map((i) => ({
      name: i.Name ?? i.ImageId ?? "?",
      ref: i.ImageId ?? "?",
      source: "provider" as const,
    }));
  }
}
