/** Where the built agent executable is: dist/agent beside the CLI bundle (or LAB_AGENT_DIST). */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder holding `lab-agent`, or undefined when the agent was not built. */
export function agentDistDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  // Bundled, this code sits in dist/lab.js or dist/chunks/: the agent is in dist/agent.
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = env.LAB_AGENT_DIST
    ? [env.LAB_AGENT_DIST]
    : [join(here, "agent"), join(here, "..", "agent")];
  return candidates.find((d) => existsSync(join(d, "lab-agent")));
}
