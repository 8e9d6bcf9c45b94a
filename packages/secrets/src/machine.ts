/** What runs on a machine (the agent, `lab secret get`): no vault, no SQLite. */
export * from "./cache.js";
export * from "./client.js";
export * from "./replica.js";
export * from "./sync.js";
