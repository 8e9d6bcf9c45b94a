/**
 * `lab render --label L --all-providers [--prices FILE]`: the label at every provider, side by
 * side, with a cost estimate (docs/providers.md). Local mode computes it over the local model;
 * client mode asks lab server, which computes it the same way over its model, so both print
 * the same table. The --prices file is read here and sent as text: errors name the user's path.
 */
import { existsSync, readFileSync } from "node:fs";
import { LabError, type SourceFile } from "@lab/core";
import type { AllProvidersView } from "@lab/providers";
import { allProvidersTable } from "../output/all-providers.js";
import type { Format } from "../program.js";
import type { CommandContext } from "./command-context.js";

export async function renderAllProviders(
  ctx: CommandContext,
  o: { label: string; prices?: string; output: Format },
): Promise<void> {
  const file = o.prices ? readPrices(o.prices) : undefined;
  const session = await ctx.open();
  let view: AllProvidersView;
  if (session.remote) {
    view = await session.remote.request(
      "POST",
      `/api/v1/labels/${encodeURIComponent(o.label)}/all-providers`,
      file ? { prices: file } : {},
    );
  } else {
    if (!session.store) throw new LabError("LAB_E_INTERNAL", "local mode needs the local store");
    const { parsePriceFile } = await import("@lab/core");
    const { allProviders } = await import("@lab/providers");
    view = allProviders(await session.store.load(), o.label, {
      ...(file ? { priceFile: parsePriceFile(file) } : {}),
    });
  }
  ctx.emit(o.output, view, () => allProvidersTable(view, ctx.out));
}

function readPrices(path: string): SourceFile {
  if (!existsSync(path)) throw new LabError("LAB_E_FILE_NOT_FOUND", `no such file: ${path} (--prices)`);
  return { path, text: readFileSync(path, "utf8") };
}
