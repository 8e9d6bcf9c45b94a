export * from "./env.js";
export * from "./repo.js";
export * from "./runner.js";
export * from "./series.js";
