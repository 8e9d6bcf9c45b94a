/** The modules package's public API (re-exported by index.ts): declarative host configuration. */
export * from "./executor.js";
export * from "./k3s/cluster.js";
export * from "./k3s/plan.js";
export { K3S_BIN, type K3sBinary, STANDIN_BIN } from "./k3s/service.js";
export { K3S_STANDIN, K3S_STANDIN_VERSION } from "./k3s/standin.js";
export * from "./operation.js";
