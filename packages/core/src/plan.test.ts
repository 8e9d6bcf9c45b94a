import { describe, expect, it } from "vitest";
import { planApply } from "./plan.js";
import { modelOf } from "./testing.js";

const stored = modelOf("labels:\n  web: {puppet_classes: [nginx]}\n  db: {}\n  old: {}\n");

describe("planApply", () => {
  it("creates, updates field by field, and keeps what the files do not mention", () => {
    const plan = planApply(
      stored,
      modelOf("labels:\n  web: {puppet_classes: [nginx, php], ports: [80]}\n  db: {}\n  new: {}\n"),
    );
    expect(plan.changes.map(({ op, kind, name, fields }) => ({ op, kind, name, fields }))).toEqual([
      { op: "update", kind: "label", name: "web", fields: ["ports", "puppet_classes"] },
      { op: "create", kind: "label", name: "new", fields: undefined },
    ]);
    expect(plan.unchanged).toBe(1);
    expect([...plan.result.label.keys()].sort()).toEqual(["db", "new", "old", "web"]);
  });

  it("deletes what the files no longer define only with prune", () => {
    const plan = planApply(stored, modelOf("labels:\n  web: {puppet_classes: [nginx]}\n"), { prune: true });
    expect(plan.changes.map((c) => `${c.op} ${c.name}`)).toEqual(["delete db", "delete old"]);
    expect([...plan.result.label.keys()]).toEqual(["web"]);
  });

  it("is idempotent: the same files change nothing", () => {
    const plan = planApply(stored, stored);
    expect(plan.changes).toEqual([]);
    expect(plan.unchanged).toBe(3);
  });

  it("ignores key order and comments", () => {
    const a = modelOf("servers:\n  s: {provider: p, labels: [x], environment: prod}\nlabels: {x: {}}\n");
    const b = modelOf(
      "labels: {x: {}}\nservers:\n  s:\n    environment: prod # here\n    labels: [x]\n    provider: p\n",
    );
    expect(planApply(a, b).changes).toEqual([]);
  });
});
