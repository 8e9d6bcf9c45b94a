import { LabError } from "@lab/core";
import { describe, expect, it } from "vitest";
import { applyPlan, type Plan, renderPlan } from "./plan.js";

const plain = {
  green: (s: string) => s,
  yellow: (s: string) => s,
  red: (s: string) => s,
  dim: (s: string) => s,
};

function recorder() {
  const log: string[] = [];
  const step = (name: string, fail?: boolean) => ({
    op: "+" as const,
    plan: `do ${name}`,
    title: name,
    run: async () => {
      log.push(`run ${name}`);
      if (fail) throw new LabError("LAB_E_MIGRATE_START", `${name} broke`);
      return `${name} ok`;
    },
    undo: async () => {
      log.push(`undo ${name}`);
      return `undid ${name}`;
    },
  });
  return { log, step };
}

describe("control-plane plan/apply", () => {
  it("prints every step with its sign, then the notes", () => {
    const plan: Plan = {
      headline: "~ migrate lab-server",
      steps: [
        { op: "+", plan: "deploy" },
        { op: "=", plan: "bundle already there" },
        { op: "-", plan: "stop local" },
      ],
      notes: ["PXE needs L2"],
    };
    expect(renderPlan(plan, plain)).toBe(
      "Step 1: Plan\n~ migrate lab-server\n+ deploy\n= bundle already there\n- stop local\n⚠ Note: PXE needs L2\n",
    );
  });

  it("runs the steps in order when all succeed, undoing nothing", async () => {
    const { log, step } = recorder();
    const lines: string[] = [];
    const report = await applyPlan({ headline: "", notes: [], steps: [step("a"), step("b")] }, (l) =>
      lines.push(l),
    );
    expect(log).toEqual(["run a", "run b"]);
    expect(report.failed).toBeUndefined();
    expect(lines[0]).toBe("Step 2: Apply");
    expect(lines.filter((l) => l.startsWith("  ✓ "))).toHaveLength(2);
  });

  it("a failing step undoes the completed ones newest first, and reports the failure's code", async () => {
    const { log, step } = recorder();
    const lines: string[] = [];
    const report = await applyPlan(
      { headline: "", notes: [], steps: [step("a"), step("b"), step("c", true), step("d")] },
      (l) => lines.push(l),
    );
    expect(log).toEqual(["run a", "run b", "run c", "undo b", "undo a"]);
    expect(report.failed?.error.code).toBe("LAB_E_MIGRATE_START");
    expect(report.undone).toEqual(["b", "a"]);
    expect(lines).toContain("  ✗ c failed: LAB_E_MIGRATE_START: c broke");
    expect(lines).toContain("Rolling back");
  });

  it("an undo that fails is reported, and the others still run", async () => {
    const { log, step } = recorder();
    const broken = { ...step("a"), undo: async () => Promise.reject(new Error("host gone")) };
    const report = await applyPlan(
      { headline: "", notes: [], steps: [broken, step("b"), step("c", true)] },
      () => undefined,
    );
    expect(log).toEqual(["run a", "run b", "run c", "undo b"]);
    expect(report.undoFailures).toEqual(["a: host gone"]);
  });

  it("an error that is not a LabError becomes LAB_E_MIGRATE_FAILED naming the step", async () => {
    const report = await applyPlan(
      {
        headline: "",
        notes: [],
        steps: [
          { op: "+", plan: "x", title: "Copy", run: async () => Promise.reject(new Error("disk full")) },
        ],
      },
      () => undefined,
    );
    expect(report.failed?.error.code).toBe("LAB_E_MIGRATE_FAILED");
    expect(report.failed?.error.message).toBe("Copy: disk full");
  });
});
