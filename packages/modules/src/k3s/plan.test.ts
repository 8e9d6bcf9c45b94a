import { isLabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { type ClusterRecord, type NodeObservation, type PlanInput, planCluster } from "./plan.js";

const T1 = `K10${"a".repeat(64)}::server:${"1".repeat(32)}`;
const T2 = `K10${"b".repeat(64)}::server:${"2".repeat(32)}`;
const obs = (node: string, token?: string, joinUrl?: string): NodeObservation => ({
  node,
  address: `10.0.0.${node.charCodeAt(0) - 96}`,
  ...(token ? { token } : {}),
  ...(joinUrl ? { joinUrl } : {}),
});
const rec: ClusterRecord = {
  name: "c",
  distribution: "k3s",
  joinServer: "b",
  url: "https://10.0.0.2:6443",
  servers: ["b"],
  agents: [],
};
const input = (over: Partial<PlanInput>): PlanInput => ({
  cluster: "c",
  servers: ["a", "b", "c"],
  agents: [],
  join: false,
  observed: [obs("a"), obs("b"), obs("c")],
  ...over,
});

describe("planCluster: create a new cluster or join the existing one", () => {
  const cases: { name: string; in: PlanInput; want: object }[] = [
    {
      name: "no k3s anywhere: the first server creates it",
      in: input({}),
      want: { mode: "create", joinServer: "a", url: "https://10.0.0.1:6443" },
    },
    {
      name: "one server holds a token: the others join it",
      in: input({ observed: [obs("a"), obs("b", T1), obs("c")] }),
      want: { mode: "join", joinServer: "b", reason: "found an existing k3s cluster on b" },
    },
    {
      name: "several hold the same token: the one that joined no one is the head",
      in: input({ observed: [obs("a", T1, "https://10.0.0.3:6443"), obs("b"), obs("c", T1)] }),
      want: { mode: "join", joinServer: "c" },
    },
    {
      name: "recorded: joined through the recorded server, even when it is not named",
      in: input({ servers: ["a"], recorded: rec, join: true, observed: [obs("a"), obs("b", T1)] }),
      want: { mode: "join", joinServer: "b", url: "https://10.0.0.2:6443" },
    },
  ];
  for (const c of cases) it(c.name, () => expect(planCluster(c.in)).toMatchObject(c.want));

  const refusals: { name: string; in: PlanInput; code: string; msg: RegExp }[] = [
    {
      name: "two different tokens are two clusters",
      in: input({ observed: [obs("a", T1), obs("b", T2), obs("c")] }),
      code: "LAB_E_CLUSTER_CONFLICT",
      msg: /a, b belong to different k3s clusters/,
    },
    {
      name: "--join with nothing recorded and nothing found",
      in: input({ join: true }),
      code: "LAB_E_CLUSTER_NOT_FOUND",
      msg: /no k3s cluster c to join/,
    },
    {
      name: "the recorded server lost its token",
      in: input({ recorded: rec }),
      code: "LAB_E_CLUSTER_NOT_FOUND",
      msg: /created on b, which shows no k3s token now/,
    },
    {
      name: "a named server belongs to another cluster than the recorded one",
      in: input({ recorded: rec, observed: [obs("a", T2), obs("b", T1), obs("c")] }),
      code: "LAB_E_CLUSTER_CONFLICT",
      msg: /a, b belong to different k3s clusters/,
    },
  ];
  for (const c of refusals) {
    it(`refuses: ${c.name}`, () => {
      try {
        planCluster(c.in);
        expect.unreachable();
      } catch (e) {
        expect(isLabError(e) && e.code).toBe(c.code);
        expect((e as Error).message).toMatch(c.msg);
      }
    });
  }
});
