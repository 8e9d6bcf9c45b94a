/**
 * `lab enc CERTNAME`: the external node classifier for Puppet (OpenVox). Its standard output
 * is exactly what Puppet's exec node terminus reads (`node_terminus = exec`,
 * `external_nodes = …`); an unknown node exits non-zero, which Puppet reports as a failed
 * node lookup instead of compiling an empty catalog. Works locally and against lab server.
 */
import { encYaml } from "@lab/core";
import { type Command, Option } from "commander";
import type { Session } from "../context.js";
import type { Style } from "../output/style.js";
import type { IO } from "../program.js";

interface Ctx {
  io: IO;
  print: (s: string) => void;
  out: Style;
  open: () => Promise<Session>;
}

export function registerPuppetCommands(program: Command, ctx: Ctx): void {
  program
    .command("enc")
    .description("a node's Puppet classes, environment and parameters (Puppet's exec ENC)")
    .argument("<certname>", "the node's certname: a server name or its FQDN")
    .addOption(
      new Option("-o, --output <format>", "yaml: what Puppet reads; json: with provenance")
        .choices(["yaml", "json"])
        .default("yaml"),
    )
    .action(async (certname: string, opts: { output: "yaml" | "json" }) => {
      const node = await (await ctx.open()).engine.enc(certname);
      ctx.print(opts.output === "json" ? `${JSON.stringify(node, null, 2)}\n` : encYaml(node));
    });
}
