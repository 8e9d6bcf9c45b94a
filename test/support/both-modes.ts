/**
 * One LAB_HOME with the homelab example applied, driven two ways: `local` runs the engine
 * in-process, `remote` goes through a real `lab server` on that same home — so a test can ask
 * both the same question and compare the bytes.
 */
import { readFileSync } from "node:fs";
import { type RunningServer, startServer } from "@lab/server";
import { expect } from "vitest";
import { labAsyncIn, tempHome } from "./cli.js";

export interface BothModes {
  home: string;
  server: RunningServer;
  local: ReturnType<typeof labAsyncIn>;
  remote: ReturnType<typeof labAsyncIn>;
}

export async function homelabBothModes(prefix: string): Promise<BothModes> {
  const home = tempHome(prefix);
  const local = labAsyncIn(home);
  expect((await local(["apply", "-f", "examples/homelab"])).code).toBe(0);
  const server = await startServer({ home, host: "127.0.0.1", port: 0, tls: true });
  const token = readFileSync(server.adminTokenPath as string, "utf8").trim();
  const remote = labAsyncIn(home, {
    LAB_SERVER: server.url,
    LAB_TOKEN: token,
    LAB_CA_FILE: server.caPath as string,
  });
  return { home, server, local, remote };
}
