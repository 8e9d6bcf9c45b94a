export {
  DEFAULT_SYSLOG_PORT,
  kernelUdpDrops,
  SyslogFramer,
  SyslogListener,
  type SyslogListenerOptions,
  type SyslogSender,
  type SyslogStats,
} from "./listener.js";
export {
  cleanLines,
  InstallLogBuffer,
  type InstallLogBufferOptions,
  type LogListener,
} from "./log-buffer.js";
export {
  FACILITY_NAMES,
  formatSyslogLine,
  MAX_MESSAGE_CHARS,
  parseSyslog,
  SEVERITY_NAMES,
  type SyslogFormat,
  type SyslogMessage,
} from "./parse.js";
