/** Test helpers: where Debian's Nagios 4 and plugins live. Used by tests only. */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const NAGIOS = process.env.LAB_NAGIOS_BIN ?? "/usr/sbin/nagios4";
export const PLUGINS = "/usr/lib/nagios/plugins";
export const INSTALL = "apt-get install -y nagios4-core monitoring-plugins-basic";

/** Fails (never skips) with the install command when nagios4 or the plugins are missing. */
export function requireNagios(): void {
  if (!existsSync(NAGIOS) || !existsSync(join(PLUGINS, "check_tcp"))) {
    throw new Error(`nagios4 or the monitoring plugins are missing (${NAGIOS}, ${PLUGINS}): ${INSTALL}`);
  }
}
