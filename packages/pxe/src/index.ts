export * from "./provisioner.js";
export * from "./timeline.js";
