/** @lab/agent: the machine-side daemon (enrolment, channel, commands). */
export {
  AGENT_EXIT,
  AGENT_VERSION,
  Agent,
  type AgentExit,
  type AgentOptions,
  defaultChannelUrl,
  runAgent,
} from "./agent.js";
export { AgentApi } from "./api.js";
export { Backoff, BoundedQueue } from "./backoff.js";
export {
  AGENT_USAGE,
  type AgentFlags,
  agentMain,
  parseDuration,
  resolveAgentOptions,
  runAgentUntilSignal,
} from "./cli.js";
export { agentDistDir } from "./dist.js";
export { CommandRunner, type ExecResult, type ExecSink } from "./exec.js";
export { createCsr, generatePrivateKey, signRenewalProof } from "./keys.js";
export { type AgentInfo, type AgentState, loadState, STATE_FILES } from "./state.js";
