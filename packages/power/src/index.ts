export * from "./driver.js";
export * from "./from-spec.js";
export * from "./ipmi.js";
export * from "./libvirt.js";
export * from "./manual.js";
export * from "./qmp.js";
export * from "./redfish.js";
export * from "./relay.js";
