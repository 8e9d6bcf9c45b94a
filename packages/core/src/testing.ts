/** Test helpers: build a model from inline YAML. Used by tests only. */
import type { Model } from "./model.js";
import { parseSources } from "./parse.js";

export function modelOf(yaml: string): Model {
  const { model, diagnostics } = parseSources([{ path: "test.yaml", text: yaml }]);
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (errors.length) throw new Error(errors.map((d) => `${d.code} ${d.message}`).join("\n"));
  return model;
}
