export * from "./ca.js";
export {
  type DnsRegistrar,
  type DnsRegistration,
  qualifyHost,
  type Rfc2136Options,
  Rfc2136Registrar,
  reverseName,
  reverseZoneFor,
  type TsigKey,
} from "./dns-update.js";
export * from "./enrol.js";
export * from "./join-tokens.js";
export * from "./puppet-autosign.js";
export * from "./revocation.js";
export * from "./ssh-ca.js";
export * from "./wireguard.js";
