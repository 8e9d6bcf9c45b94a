import { LabError } from "@lab/core";

/**
 * Asks before a printed plan is carried out. `--yes` skips the question; without a terminal no
 * one can answer, and anything but y/yes is a no: both refuse with LAB_E_NOT_CONFIRMED, before
 * anything has changed, so a script that forgot --yes fails loudly instead of doing nothing.
 */
export async function confirmPlan(
  ask: (question: string) => Promise<string>,
  yes: boolean | undefined,
  what: string,
): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new LabError("LAB_E_NOT_CONFIRMED", `not a terminal, so no one can confirm: pass --yes to ${what}`);
  const answer = (await ask("Proceed? [y/N]: ")).trim().toLowerCase();
  if (answer !== "y" && answer !== "yes")
    throw new LabError("LAB_E_NOT_CONFIRMED", "not confirmed: nothing was changed");
}
