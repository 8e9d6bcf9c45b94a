export * from "./provisioner.js";
export * from "./snippets.js";
export * from "./timeline.js";
