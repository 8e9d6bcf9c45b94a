/**
 * The aws provider's contract suite on RECORDED EC2 responses (no AWS is reachable here): the
 * real AWS SDK v3 client, with a recorded-HTTP request handler injected (test/support/
 * ec2-recorded.ts, test/fixtures/aws/ec2-contract.json). The recording checks the requests the
 * provider sends (action and parameters); the console change in it is the drift.
 */
import { AwsProvider, type ResourceSpec } from "@lab/providers";
import { providerContract } from "@lab/providers/contract";
import { describe, expect, it } from "vitest";
import { RecordedEc2 } from "../support/ec2-recorded.js";

const SIZES = {
  small: { abstract: { cores: 2, memory: "512MB" }, providers: { aws: { instance_type: "t3.nano" } } },
};
const CREDENTIALS = { accessKeyId: "AKIDRECORDED", secretAccessKey: "recorded" };

const spec: ResourceSpec = {
  name: "mail-3",
  provider: "aws",
  labels: ["mailserver"],
  size: "small",
  sizing: { cores: 2, memoryMiB: 512, diskMiB: null, instanceType: "t3.nano", atLeast: false },
  image: { name: "debian-12", ref: "ami-0c2b0d3fb02824d92" },
  host: null,
  mac: null,
  mounts: [],
  attributes: {},
  power: null,
};

const recorded = (ec2: RecordedEc2) =>
  new AwsProvider({
    client: { region: "eu-west-1", credentials: CREDENTIALS, requestHandler: ec2.handler() as never },
    sizes: SIZES,
    pollMs: 0,
  });

let ec2: RecordedEc2;
providerContract("aws (EC2 via AWS SDK v3, on RECORDED responses)", async () => {
  ec2 = RecordedEc2.load("ec2-contract.json");
  const provider = recorded(ec2);
  const count = (a: string) => ec2.log.filter((x) => x === a).length;
  return {
    provider,
    spec,
    creates: true,
    // Read around the provider: what the recording was asked to do.
    exists: async () => count("RunInstances") > count("TerminateInstances"),
    drift: async () => {
      ec2.outside();
    },
    driftFields: ["instance_type"],
    reconciles: true,
    destroyRemoves: true,
    unreachable: () =>
      new AwsProvider({
        client: {
          region: "eu-west-1",
          credentials: CREDENTIALS,
          endpoint: "http://127.0.0.1:21601",
          maxAttempts: 1,
        },
      }),
    cleanup: async () => {
      expect(ec2.mismatches).toEqual([]);
    },
  };
});

describe("aws provider on RECORDED responses", () => {
  it("sent every recorded request, in order, with the recorded parameters", () => {
    expect(ec2.mismatches).toEqual([]);
    expect(ec2.log.filter((a) => !a.startsWith("Describe"))).toEqual([
      "RunInstances",
      "StopInstances",
      "ModifyInstanceAttribute",
      "StartInstances",
      "TerminateInstances",
    ]);
  });

  it("the recording checks the provider: a parameter it does not hold is refused", async () => {
    const replay = RecordedEc2.load("ec2-contract.json");
    const p = recorded(replay);
    expect((await p.images()).map((i) => i.ref)).toEqual(["ami-0c2b0d3fb02824d92"]);
    expect((await p.plan(spec)).action).toBe("create");
    const e = await p
      .apply({ ...spec, sizing: { ...spec.sizing, instanceType: "t3.micro" } })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "LAB_E_PROVIDER_REFUSED" });
    expect(replay.mismatches).toEqual(["RunInstances: expected InstanceType=t3.nano, got t3.micro"]);
  });

  it("a size without an instance type is LAB_E_PROVIDER_NOT_CONFIGURED before any request", async () => {
    const replay = RecordedEc2.load("ec2-contract.json");
    replay.handler();
    const p = recorded(replay);
    await p.images();
    await p.plan(spec);
    const e = await p
      .apply({ ...spec, sizing: { ...spec.sizing, instanceType: null } })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "LAB_E_PROVIDER_NOT_CONFIGURED" });
    expect(replay.log).toEqual(["DescribeImages", "DescribeInstances", "DescribeInstances"]);
  });
});
