export * from "./types.js";
export { type WriteReport, writeRendered } from "./write.js";
