export * from "./health-callbacks.js";
export * from "./health-naemon.js";
export * from "./health-probes.js";
export * from "./health-prometheus.js";
export { renderNaemon } from "./naemon.js";
export { renderPrometheus } from "./prometheus.js";
export * from "./types.js";
export { type WriteReport, writeRendered } from "./write.js";

import type { AlertRenderer, Backend } from "@lab/core";
import { renderNaemon } from "./naemon.js";
import { renderPrometheus } from "./prometheus.js";

/** The renderers `lab render alerts` and the server use. */
export const RENDERERS: Record<Backend, AlertRenderer> = {
  prometheus: (fleet, { baseDir, labServer }) => renderPrometheus(fleet, { baseDir, labServer }),
  naemon: (fleet) => renderNaemon(fleet),
};
