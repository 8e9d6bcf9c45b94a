/**
 * `lab enc CERTNAME`: the external node classifier for Puppet (OpenVox). Its standard output
 * is exactly what Puppet's exec node terminus reads (`node_terminus = exec`,
 * `external_nodes = …`); an unknown node exits non-zero, which Puppet reports as a failed
 * node lookup instead of compiling an empty catalog. Works locally and against lab server.
 *
 * `lab puppet autosign CERTNAME`: puppetserver's policy-based autosign executable (the CSR's
 * PEM on stdin). Exit 0 signs; a refusal prints LAB_E_AUTOSIGN_REFUSED with the reason and
 * exits 1, which puppetserver logs and leaves the CSR unsigned.
 */
import { encYaml, LabError } from "@lab/core";
import { type Command, Option } from "commander";
import { actor, type Session } from "../context.js";
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

  program
    .command("puppet")
    .description("Puppet (OpenVox) integration")
    .command("autosign")
    .description("puppetserver's autosign executable: sign only a CSR carrying a Lab join token for it")
    .argument("<certname>", "the certname puppetserver asks about (the CSR's PEM is read from stdin)")
    .action(async (certname: string) => {
      const csr = ctx.io.stdin();
      const session = await ctx.open();
      let name: string;
      if (session.remote) {
        ({ name } = await session.remote.request<{ name: string }>("POST", "/api/v1/puppet/autosign", {
          certname,
          csr,
        }));
      } else {
        const store = session.store;
        if (!store) throw new LabError("LAB_E_INTERNAL", "no local store");
        const [{ identityRepo }, { autosign }] = await Promise.all([
          import("@lab/store"),
          import("@lab/identity"),
        ]);
        ({ name } = await autosign(
          { repo: identityRepo(store), record: (e) => store.record(e), actor: actor(ctx.io.env) },
          { certname, csr },
        ));
      }
      ctx.io.stderr.write(`signed: ${certname} (join token for ${name})\n`);
    });
}
