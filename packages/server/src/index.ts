export { createToken, hashToken } from "./auth.js";
export { type RunningServer, type ServerOptions, startServer } from "./server.js";
