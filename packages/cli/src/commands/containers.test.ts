/**
 * placeContainers on its own: which K8S CLUSTER an image gets from what the clusters answered.
 * (The same against a recorded Kubernetes API, through the CLI: test/integration/kube-deploy.test.ts.)
 */
import type { DeploymentRow } from "@lab/kube";
import { describe, expect, it } from "vitest";
import { makeStyle } from "../output/style.js";
import type { ContainerRow } from "./build.js";
import { containerTable, placeContainers } from "./containers.js";

const image = (label: string): ContainerRow => ({
  name: label,
  image: `localhost/lab/${label}:2026.12.07`,
  label,
  classes: [],
  created: "",
  sizeBytes: null,
  cluster: null,
  status: "built",
});

const deployment = (cluster: string, img: string, ready: number, desired: number): DeploymentRow => ({
  name: "app",
  cluster,
  namespace: "default",
  label: "app",
  replicas: { desired, ready, updated: ready, available: ready },
  image: img,
  status: ready === desired ? "running" : "rolling out",
});

describe("placeContainers", () => {
  const app = image("app");
  const db = image("db");

  it("every cluster answered: the clusters running an image, one row each; an image running nowhere is none", () => {
    const rows = placeContainers([app, db], {
      clusters: 2,
      failures: [],
      deployments: [deployment("prod", app.image, 4, 4), deployment("stage", app.image, 1, 2)],
    });
    expect(rows.map((r) => [r.label, r.cluster, r.status])).toEqual([
      ["app", "prod", "running (4/4)"],
      ["app", "stage", "rolling out (1/2)"],
      ["db", "none", "built"],
    ]);
    expect(containerTable(rows, makeStyle({ isTTY: false }))).not.toContain("— ");
  });

  it("a cluster that could not be asked: an image found nowhere else is unknown (null), with the reason", () => {
    const rows = placeContainers([app, db], {
      clusters: 2,
      failures: [{ cluster: "down", code: "LAB_E_KUBE_UNREACHABLE", message: "cannot reach it" }],
      deployments: [deployment("prod", app.image, 4, 4)],
    });
    expect(rows.map((r) => [r.label, r.cluster])).toEqual([
      ["app", "prod"],
      ["db", null],
    ]);
    const text = containerTable(rows, makeStyle({ isTTY: false }));
    expect(text).toMatch(/db\s+\S+\s+db\s+—\s+built\n/);
    expect(text).toContain("— down could not be asked: LAB_E_KUBE_UNREACHABLE: cannot reach it\n");
  });

  it("no clusters in the model, or the clusters not reachable at all: unknown, saying why", () => {
    expect(placeContainers([db], { clusters: 0, failures: [], deployments: [] })[0]).toMatchObject({
      cluster: null,
      clusterUnknown: ["no clusters: in the model to ask"],
    });
    const r = placeContainers([db], { clusters: 0, failures: [], deployments: [], error: "LAB_E_X: boom" });
    expect(r[0]?.clusterUnknown).toEqual(["the clusters could not be asked: LAB_E_X: boom"]);
  });
});
