export * from "./client.js";
export * from "./deployer.js";
export * from "./render.js";
export * from "./validate.js";
