/**
 * `lab server --pxe` inside a boot network, the way the end-to-end tests run it: the discovery
 * image in its LAB_HOME, the API and agent ports on the namespace's server address, and a CLI
 * on the host logged in to it with the admin token.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BootImage } from "./boot-image.js";
import { labAsyncIn, ROOT, SLOW_MACHINE } from "./cli.js";
import type { BootNetwork, NsProcess } from "./netns.js";

export interface PxeServer {
  server: NsProcess;
  /** The server's LAB_HOME. */
  labHome: string;
  /** The admin token it wrote at first start. */
  token: string;
}

export interface PxeServerOptions {
  /** The server's LAB_HOME (default: a new temporary directory). */
  labHome?: string;
  /** HOME for the process (default: labHome). */
  home?: string;
  /** After `--pxe --pxe-interface BRIDGE`: the mode flags of the test. */
  args: string[];
}

/** Starts the server and waits for its `Ready.` line. */
export async function startPxeServer(
  net: BootNetwork,
  image: BootImage,
  opts: PxeServerOptions,
): Promise<PxeServer> {
  const labHome = opts.labHome ?? mkdtempSync(join(tmpdir(), "lab-pxe-"));
  const images = join(labHome, "images", "lab-discovery");
  await mkdir(images, { recursive: true });
  await copyFile(image.kernel, join(images, "vmlinuz"));
  await copyFile(image.initrd, join(images, "initrd.gz"));
  const server = net.spawn(
    process.execPath,
    [
      join(ROOT, "bin/lab.js"),
      "server",
      "--listen",
      `${net.serverIp}:7443`,
      "--agent-listen",
      `${net.serverIp}:7444`,
      "--pxe",
      "--pxe-interface",
      net.bridge,
      ...opts.args,
    ],
    {
      env: { LAB_HOME: labHome, HOME: opts.home ?? labHome, PATH: process.env.PATH ?? "" },
      name: "lab server",
    },
  );
  await server.waitForOutput(/^Ready\.$/m, 60_000);
  const token = readFileSync(join(labHome, "server", "admin.token"), "utf8").trim();
  return { server, labHome, token };
}

/** A CLI with its own LAB_HOME, logged in to the server (throws with the CLI's stderr if not). */
export async function loginCli(
  net: BootNetwork,
  lab: PxeServer,
  cliHome: string,
): Promise<ReturnType<typeof labAsyncIn>> {
  const cli = labAsyncIn(cliHome, SLOW_MACHINE);
  const login = await cli([
    "login",
    `https://${net.serverIp}:7443`,
    "--token",
    lab.token,
    "--ca-file",
    join(lab.labHome, "server", "ca.crt"),
  ]);
  if (login.code !== 0) throw new Error(`lab login failed: ${login.stderr}`);
  return cli;
}
