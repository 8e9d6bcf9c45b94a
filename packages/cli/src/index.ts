export { type IO, run } from "./program.js";
