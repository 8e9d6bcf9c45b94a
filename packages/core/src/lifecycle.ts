/**
 * The machine lifecycle of network-booted machines, as a pure state machine:
 *
 *   (new) ──boot──► DISCOVERED ──install──► INSTALL_QUEUE ──start──► INSTALLING ──complete──► INSTALLED
 *                                               ▲    │                   │
 *                       reprovision / install ──┘    └──fail──► FAILED ◄─┘
 *
 * DEBUG is a one-shot flag beside the state: the next boot gets the rescue script and the flag
 * clears. Forget removes the machine from every table. Illegal moves are `LabError`s that say
 * which moves are possible from here.
 */
import { LabError } from "./errors.js";

export const MACHINE_STATES = ["DISCOVERED", "INSTALL_QUEUE", "INSTALLING", "INSTALLED", "FAILED"] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

export type MachineAction =
  | "discover"
  | "enlist"
  | "install"
  | "reprovision"
  | "start"
  | "complete"
  | "fail"
  | "debug"
  | "forget";

/** From which states each action may be taken (`null` = a machine Lab does not know yet). */
const FROM: Record<MachineAction, ReadonlyArray<MachineState | null>> = {
  // A boot of the discovery image: new machines appear, known ones refresh their inventory.
  discover: [null, "DISCOVERED", "INSTALLED", "FAILED"],
  // `lab onboard --mac`: a machine registered before it ever booted, queued at once.
  enlist: [null],
  install: ["DISCOVERED", "FAILED"],
  reprovision: ["INSTALLED", "FAILED"],
  start: ["INSTALL_QUEUE", "INSTALLING"],
  complete: ["INSTALLING", "INSTALL_QUEUE"],
  fail: ["INSTALL_QUEUE", "INSTALLING"],
  debug: ["DISCOVERED", "INSTALL_QUEUE", "INSTALLING", "INSTALLED", "FAILED"],
  forget: ["DISCOVERED", "INSTALL_QUEUE", "INSTALLING", "INSTALLED", "FAILED"],
};

const TO: Record<MachineAction, MachineState | "same" | "gone"> = {
  discover: "same",
  enlist: "INSTALL_QUEUE",
  install: "INSTALL_QUEUE",
  reprovision: "INSTALL_QUEUE",
  start: "INSTALLING",
  complete: "INSTALLED",
  fail: "FAILED",
  debug: "same",
  forget: "gone",
};

const ADVICE: Partial<Record<MachineState, string>> = {
  INSTALLING: "wait for it to finish, or `lab provision reprovision` it once it has failed",
  INSTALLED: "use `lab provision reprovision` to install it again",
  INSTALL_QUEUE: "it is already queued: power it on (network boot) to start the install",
  DISCOVERED: "queue it with `lab provision install`",
  FAILED: "see `lab provision logs`, then `lab provision install` or `reprovision` it",
};

/** The state after `action`, or "gone" for forget; throws LAB_E_ILLEGAL_TRANSITION otherwise. */
export function transition(
  current: MachineState | null,
  action: MachineAction,
  who = "the machine",
): MachineState | "gone" {
  if (!FROM[action].includes(current)) {
    const from = current ?? "unknown";
    const allowed = (Object.keys(FROM) as MachineAction[]).filter((a) => FROM[a].includes(current));
    const advice = current ? ADVICE[current] : "it must boot the discovery image or be onboarded first";
    throw new LabError(
      current === null ? "LAB_E_NOT_FOUND" : "LAB_E_ILLEGAL_TRANSITION",
      `cannot ${action} ${who}: it is ${from}; possible now: ${allowed.join(", ") || "nothing"} (${advice})`,
    );
  }
  const to = TO[action];
  if (to === "same") return current ?? "DISCOVERED";
  return to;
}

/** Whether `action` may be taken from `current` (for menus and dashboards). */
export function canTransition(current: MachineState | null, action: MachineAction): boolean {
  return FROM[action].includes(current);
}
