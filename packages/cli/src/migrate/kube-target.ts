/** `lab server migrate --target kubernetes`: rendering lands next; until then a clear refusal. */
import { LabError } from "@lab/core";

export async function migrateToKubernetes(_ctx: unknown, _o: unknown): Promise<void> {
  throw new LabError("LAB_E_USAGE", "--target kubernetes is not available in this build: use --target ssh");
}
