export { HttpClient, HttpEngine, type ServerTarget } from "./http-engine.js";
export { type IO, run } from "./program.js";
