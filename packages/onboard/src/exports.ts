/** The onboarding package's public API (re-exported by index.ts). */
export * from "./detect.js";
export {
  buildDetectScript,
  newNonce,
  SECTIONS,
  type Section,
  type SectionName,
  splitSections,
} from "./detect-script.js";
export * from "./label-rules.js";
export * from "./ssh.js";
