/** Lab's DHCP server: codec, boot-file choice, pure handler, lease stores and the socket loop. */
export * from "./boot.js";
export * from "./codec.js";
export * from "./constants.js";
export * from "./file-leases.js";
export * from "./ip.js";
export * from "./leases.js";
export * from "./pool.js";
export * from "./respond.js";
export * from "./server.js";
