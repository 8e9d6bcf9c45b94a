/** `$LAB_HOME/config.yaml`: which server the CLI talks to, with which token and CA. */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LabError } from "@lab/core";
import { parse, stringify } from "yaml";
import { labHome } from "./context.js";

export interface CliConfig {
  mode?: "local" | "remote";
  server?: string;
  token?: string;
  /** Path of the CA certificate that signed the server's certificate. */
  ca?: string;
}

export function configPath(env = process.env): string {
  return join(labHome(env), "config.yaml");
}

export function readConfig(env = process.env): CliConfig {
  const path = configPath(env);
  if (!existsSync(path)) return {};
  try {
    const parsed = parse(readFileSync(path, "utf8")) as CliConfig | null;
    return parsed ?? {};
  } catch (e) {
    throw new LabError(
      "LAB_E_YAML_SYNTAX",
      `${path} is not valid YAML (${(e as Error).message}): fix or delete it`,
    );
  }
}

/** Written 0600: it holds a token. */
export function writeConfig(config: CliConfig, env = process.env): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `# Lab CLI configuration (written by lab login / lab logout)\n${stringify(config)}`, {
    mode: 0o600,
  });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
  return path;
}

/** The server to talk to, if any: --server, then LAB_SERVER, then the config file. */
export function remoteTarget(
  env: NodeJS.ProcessEnv,
  flag?: string,
): { url: string; token?: string; caPem?: string } | undefined {
  const config = readConfig(env);
  const url = flag ?? env.LAB_SERVER ?? (config.mode === "local" ? undefined : config.server);
  if (!url) return undefined;
  const caFile = env.LAB_CA_FILE ?? config.ca;
  let caPem: string | undefined;
  if (caFile) {
    if (!existsSync(caFile)) {
      throw new LabError(
        "LAB_E_FILE_NOT_FOUND",
        `the CA file ${caFile} named in the configuration is missing`,
      );
    }
    caPem = readFileSync(caFile, "utf8");
  }
  return { url, token: env.LAB_TOKEN ?? config.token, caPem };
}
