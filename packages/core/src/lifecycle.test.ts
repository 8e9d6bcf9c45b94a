import { describe, expect, it } from "vitest";
import { isLabError } from "./errors.js";
import { canTransition, type MachineAction, type MachineState, transition } from "./lifecycle.js";

describe("machine lifecycle", () => {
  const legal: [string, MachineState | null, MachineAction, MachineState | "gone"][] = [
    ["a new machine boots the discovery image", null, "discover", "DISCOVERED"],
    ["onboarding registers a machine before it boots", null, "enlist", "INSTALL_QUEUE"],
    ["a discovered machine is queued", "DISCOVERED", "install", "INSTALL_QUEUE"],
    ["the installer starts", "INSTALL_QUEUE", "start", "INSTALLING"],
    ["progress while installing keeps it installing", "INSTALLING", "start", "INSTALLING"],
    ["the installer completes", "INSTALLING", "complete", "INSTALLED"],
    ["an install fails", "INSTALLING", "fail", "FAILED"],
    ["an installed machine is reprovisioned", "INSTALLED", "reprovision", "INSTALL_QUEUE"],
    ["a failed machine is queued again", "FAILED", "install", "INSTALL_QUEUE"],
    ["debug keeps the state", "INSTALLED", "debug", "INSTALLED"],
    ["rediscovery refreshes an installed machine", "INSTALLED", "discover", "INSTALLED"],
    ["forget removes it", "FAILED", "forget", "gone"],
  ];
  it.each(legal)("%s", (_name, from, action, to) => {
    expect(transition(from, action)).toBe(to);
    expect(canTransition(from, action)).toBe(true);
  });

  const illegal: [string, MachineState | null, MachineAction, string][] = [
    ["installing twice", "INSTALLING", "install", "LAB_E_ILLEGAL_TRANSITION"],
    ["completing an installed machine", "INSTALLED", "complete", "LAB_E_ILLEGAL_TRANSITION"],
    ["reprovisioning a queued machine", "INSTALL_QUEUE", "reprovision", "LAB_E_ILLEGAL_TRANSITION"],
    ["discovery while installing", "INSTALLING", "discover", "LAB_E_ILLEGAL_TRANSITION"],
    ["installing an unknown machine", null, "install", "LAB_E_NOT_FOUND"],
    ["enlisting a known machine", "DISCOVERED", "enlist", "LAB_E_ILLEGAL_TRANSITION"],
  ];
  it.each(illegal)("refuses %s", (_name, from, action, code) => {
    expect(canTransition(from, action)).toBe(false);
    try {
      transition(from, action, "m1");
      expect.unreachable();
    } catch (e) {
      expect(isLabError(e) && e.code).toBe(code);
      expect((e as Error).message).toMatch(/possible now|discovery image/);
    }
  });
});
