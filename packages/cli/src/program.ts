/** The `lab` command line: commander definitions, output formats and exit codes. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  type ApplyResult,
  type Backend,
  CATALOGUE,
  type Diagnostic,
  EXIT,
  formatLocation,
  isLabError,
  KINDS,
  type Kind,
  kindFromWord,
  LabError,
  type ListKind,
  SECTION,
  type ServerFilter,
  type ShowKind,
} from "@lab/core";
import { writeRendered } from "@lab/monitor";
import { backupSqlite, checkSqlite, migrateState, restoreSqlite } from "@lab/store";
import { Command, CommanderError, Option } from "commander";
import { stringify as toYaml } from "yaml";
import { registerAgentCommands } from "./commands/agent.js";
import { registerBastionCommand } from "./commands/bastion.js";
import { registerBuildCommands } from "./commands/build.js";
import type { ClusterOptions } from "./commands/cluster.js";
import { registerKubeCommands } from "./commands/kube.js";
import { registerLogCommands } from "./commands/logs.js";
import { registerOnboardCommand } from "./commands/onboard.js";
import { registerPowerCommands } from "./commands/power.js";
import { registerProvisionCommands } from "./commands/provision.js";
import { registerPuppetCommands } from "./commands/puppet.js";
import { registerRemoteCommands } from "./commands/remote.js";
import { registerRemoteAccessCommands } from "./commands/remote-access.js";
import { registerRunCommands } from "./commands/run.js";
import { registerSecretCommands } from "./commands/secret.js";
import {
  applyServerCommand,
  diffServerCommand,
  draftOptions,
  registerServerLifecycleCommands,
} from "./commands/server-lifecycle.js";
import { registerMigrateCommand } from "./commands/server-migrate.js";
import { completionScript, SHELLS } from "./completion.js";
import { remoteTarget } from "./config.js";
import {
  actor,
  displayPath,
  labHome,
  openLocal,
  openRemote,
  readSources,
  type Session,
  statePath,
} from "./context.js";
import { priceTable } from "./output/prices.js";
import { makeStyle, type Style } from "./output/style.js";
import * as views from "./output/views.js";
import { VERSION } from "./version.js";

export interface IO {
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  stdin: () => string;
}

export type Format = "table" | "wide" | "json" | "yaml";

/** `lab apply`'s flags: -f's, `apply server`'s and `apply cluster`'s (declared once, below). */
interface ApplyOpts extends ClusterOptions {
  filename?: string[];
  dryRun?: boolean;
  prune?: boolean;
  output: Format;
  yes?: boolean;
}
const FORMATS: Format[] = ["table", "wide", "json", "yaml"];
const SHOW_KINDS: ShowKind[] = ["server", "label", "group", "alert", "secret"];
/** Every kind's plural (servers first, as users reach for them most), then events. */
const GET_KINDS = [
  "servers",
  ...KINDS.filter((k) => k !== "server").map((k) => SECTION[k]),
  "events",
  "bastions",
  "sources",
  "containers",
  "deployments",
];

/** Runs one `lab` invocation; resolves to its exit code. */
export async function run(argv: string[], io: IO): Promise<number> {
  const out = makeStyle(io.stdout, io.env);
  const err = makeStyle(io.stderr, io.env);
  let session: Session | undefined;
  const open = async (): Promise<Session> => {
    if (!session) {
      const target = remoteTarget(io.env, program.opts().server as string | undefined);
      if (target) session = openRemote(target);
      else {
        session = await openLocal(io.env);
        if (io.stderr.isTTY) {
          io.stderr.write(err.dim(`ⓘ Running locally (${displayPath(statePath(io.env))})\n`));
        }
      }
    }
    return session;
  };
  const engine = async () => (await open()).engine;
  // `lab exec` exits with the remote command's code; `lab run` and `lab power` with 1 on failure.
  let exitCode: number = EXIT.ok;
  const print = (s: string): void => {
    io.stdout.write(s);
  };
  const emit = (format: Format, data: unknown, human: () => string) => {
    if (format === "json") print(`${JSON.stringify(data, null, 2)}\n`);
    else if (format === "yaml") print(toYaml(data, { lineWidth: 0, aliasDuplicateObjects: false }));
    else print(human());
  };

  const program = new Command("lab")
    .description("Lab: from the first bare machine to a labelled, enrolled, monitored server")
    .version(VERSION, "-v, --version")
    .option("--server <url>", "talk to this Lab server (default: LAB_SERVER, then ~/.lab/config.yaml)")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const lifecycleCtx = { io, print, emit, out, open, actor: actor(io.env), ask: (q: string) => ask(q, io) };
  const outputOption = () =>
    new Option("-o, --output <format>", "output format").choices(FORMATS).default("table" as Format);
  const filterOptions = (cmd: Command) =>
    cmd
      .option("-l, --label <labels...>", "servers with any of these labels (comma-separated or repeated)")
      .option("--group <groups...>", "servers in any of these groups")
      .option("--environment <envs...>", "servers in any of these environments")
      .option("--region <regions...>", "servers in any of these regions")
      .option("--exclude <servers...>", "leave these servers out");

  const runCtx = {
    io,
    print,
    emit,
    out,
    open,
    setExitCode: (c: number) => {
      exitCode = c;
    },
  };

  program
    .command("init")
    .description("create the local state (LAB_HOME, default ~/.lab)")
    .option("--local", "run the engine locally on this machine (the default)")
    .action(async () => {
      const home = labHome(io.env);
      mkdirSync(home, { recursive: true });
      const config = join(home, "config.yaml");
      if (!existsSync(config)) {
        writeFileSync(config, "# Lab CLI configuration. No server: commands run locally.\nmode: local\n");
      }
      await engine();
      print(`Local state ready at ${displayPath(statePath(io.env))}\n`);
      print("Next: lab apply -f <inventory dir>, then lab get servers\n");
    });

  draftOptions(
    program
      .command("apply")
      .description(
        "create or update objects from YAML files (-f), a server at its provider (apply server NAME), or a k3s cluster (apply cluster NAME)",
      )
      .argument(
        "[kind]",
        "server (with NAME: plan, ask, then create or reconcile it at its provider) or cluster (with NAME: the k3s module over SSH)",
      )
      .argument("[name]")
      .option("-f, --filename <paths...>", "files or directories (- for stdin)")
      .option("--dry-run", "print what would change; write nothing")
      .option("--prune", "delete stored objects the files no longer define")
      .option("-y, --yes", "apply server: do not ask before acting")
      .option(
        "--servers <names...>",
        "apply cluster: the k3s servers (comma-separated); the first creates it",
      )
      .option("--agents <names...>", "apply cluster: the k3s agents (workers)")
      .option("--join", "apply cluster: join the existing cluster NAME; never create one")
      .option("--k3s-binary <path>", "apply cluster: the k3s binary to install, or `standin` (tests)")
      .option("--user <user>", "apply cluster: SSH user", "root")
      .option("--identity-file <path>", "apply cluster: SSH private key (default ~/.ssh/id_*, ssh-agent)")
      .option("--ssh-port <port>", "apply cluster: SSH port", (v) => Number.parseInt(v, 10), 22)
      .addOption(outputOption()),
  ).action(async (word: string | undefined, name: string | undefined, opts: ApplyOpts) => {
    // `lab apply KIND NAME`: one object, acted on where it lives (its provider; k3s over SSH).
    const applyKinds: Record<string, (name: string) => Promise<unknown>> = {
      server: (n) => applyServerCommand(lifecycleCtx, n, opts),
      cluster: async (n) =>
        (await import("./commands/cluster.js")).applyCluster(runCtx, n, {
          ...opts,
          servers: opts.servers?.flatMap(splitCommas),
          agents: opts.agents?.flatMap(splitCommas),
        }),
    };
    if (word !== undefined) {
      const kind = word.toLowerCase().replace(/s$/, "");
      const act = applyKinds[kind];
      if (!act)
        throw usage("expected `lab apply server NAME`, `lab apply cluster NAME` or `lab apply -f FILE`");
      if (!name) throw usage(`lab apply ${kind} NAME: name the ${kind}`);
      if (opts.filename) throw usage(`give either -f FILE or ${kind} NAME, not both`);
      await act(name);
      return;
    }
    if (!opts.filename) throw usage("give -f FILE (or `lab apply server NAME`, `lab apply cluster NAME`)");
    const files = readSources(opts.filename.flatMap(splitCommas), io.stdin);
    let result: ApplyResult;
    try {
      result = await (await engine()).apply({ files, dryRun: opts.dryRun, prune: opts.prune });
    } catch (e) {
      if (isLabError(e) && e.code === "LAB_E_INVALID") {
        printDiagnostics(io, err, e.diagnostics);
      }
      throw e;
    }
    printDiagnostics(io, err, result.warnings);
    emit(opts.output, result, () => views.applySummary(result, out));
  });

  filterOptions(
    program
      .command("get")
      .description(`list objects: ${GET_KINDS.join(", ")}`)
      .argument("<kind>", GET_KINDS.join("|"))
      .addOption(outputOption())
      .option("--limit <n>", "at most this many (events)", (v) => Number.parseInt(v, 10))
      .option("--cluster <name>", "deployments: only this cluster's"),
  ).action(async (word: string, opts: FilterOpts & { output: Format; limit?: number; cluster?: string }) => {
    if (/^runs?$/i.test(word)) {
      const { getRuns } = await import("./commands/run.js");
      return getRuns(runCtx, { output: opts.output, limit: opts.limit });
    }
    if (/^deployments?$/i.test(word)) {
      const { getDeployments } = await import("./commands/kube.js");
      return getDeployments(runCtx, {
        cluster: opts.cluster,
        label: opts.label?.flatMap(splitCommas)[0],
        output: opts.output,
      });
    }
    if (/^sources?$/i.test(word)) {
      const { listSources } = await import("./commands/logs.js");
      return listSources({ io, print, emit, out, open }, opts.output);
    }
    if (/^bastions?$/i.test(word)) {
      const { getBastions } = await import("./commands/bastion.js");
      return getBastions({ io, print, emit, out, open }, opts.output);
    }
    if (word === "containers" || word === "container") {
      const { listContainers } = await import("./commands/build.js");
      const images = listContainers(io.env);
      if (images.length === 0 && (opts.output === "table" || opts.output === "wide")) {
        io.stderr.write("No containers found (lab build --label L makes one).\n");
        return;
      }
      const [{ askClusters }, { placeContainers, containerTable }] = await Promise.all([
        import("./commands/kube.js"),
        import("./commands/containers.js"),
      ]);
      const rows = images.length ? placeContainers(images, await askClusters(runCtx)) : [];
      return emit(opts.output, rows, () => containerTable(rows, out));
    }
    const kind = listKind(word);
    if (kind === "secret") {
      const { getSecrets } = await import("./commands/secret.js");
      return getSecrets({ io, print, emit, out, open }, opts.output, opts.label?.flatMap(splitCommas));
    }
    const e = await engine();
    const filter = toFilter(opts);
    const wide = opts.output === "wide";
    if (kind === "event") {
      const rows = await e.list("event", { limit: opts.limit ?? 50 });
      return emit(opts.output, rows, () => views.eventTable(rows, out));
    }
    const rows = await e.list(kind, { filter, wide });
    const human = {
      server: () => views.serverTable(rows as never, out, wide),
      label: () => views.labelTable(rows as never, out, wide),
      group: () => views.groupTable(rows as never, out),
      alert: () => views.alertTable(rows as never, out),
      secret: () => views.secretTable(rows as never, out),
      size: () => views.sizeTable(rows as never, out),
      class: () => views.classTable(rows as never, out),
      image: () => views.imageTable(rows as never, out),
      label_rule: () => views.labelRuleTable(rows as never, out),
      layout: () => views.layoutTable(rows as never, out),
      lab: () => views.labTable(rows as never, out),
      cluster: () => views.clusterTable(rows as never, out),
      price: () => priceTable(rows as never, out),
    }[kind];
    if (rows.length === 0 && (opts.output === "table" || opts.output === "wide")) {
      io.stderr.write(`No ${word} found.\n`);
      return;
    }
    emit(opts.output, rows, human);
  });

  program
    .command("show")
    .description("everything about one object and where it came from")
    .argument("<kind>", SHOW_KINDS.join("|"))
    .argument("<name>")
    .addOption(outputOption())
    .action(async (word: string, name: string, opts: { output: Format }) => {
      const kind = showKind(word);
      if (kind === "secret") {
        const { showSecret } = await import("./commands/secret.js");
        return showSecret({ io, print, emit, out, open }, name, opts.output);
      }
      const data = await (await engine()).show(kind, name);
      const human = {
        server: () => views.showServer(data as never, out),
        label: () => views.showLabel(data as never, out),
        group: () => views.showGroup(data as never, out),
        alert: () => views.showAlert(data as never, out),
        secret: () => views.showSecret(data as never, out),
      }[kind];
      emit(opts.output, data, human);
    });

  program
    .command("targets")
    .description("reverse query: everything that targets a server")
    .argument("<kind>", "server")
    .argument("<name>")
    .addOption(outputOption())
    .action(async (word: string, name: string, opts: { output: Format }) => {
      serverOnly(word);
      const data = await (await engine()).targets(name);
      emit(opts.output, data, () => views.showTargets(data, out));
    });

  program
    .command("describe")
    .description("a server's spec, resolution and status; a run; a cluster and its nodes")
    .argument("<kind>", "server|run|cluster")
    .argument("<name>")
    .addOption(outputOption())
    .action(async (word: string, name: string, opts: { output: Format }) => {
      if (/^runs?$/i.test(word)) {
        const { describeRunCommand } = await import("./commands/run.js");
        return describeRunCommand(runCtx, name, opts.output);
      }
      if (/^clusters?$/i.test(word)) {
        const { describeCluster } = await import("./commands/kube.js");
        return describeCluster({ io, print, emit, out, open }, name, opts.output);
      }
      serverOnly(word);
      const data = await (await engine()).describe(name);
      emit(opts.output, data, () => views.describeServer(data, out));
    });

  program
    .command("diff")
    .description("a server's spec against what is observed")
    .argument("<kind>", "server")
    .argument("<name>")
    .addOption(outputOption())
    .action(async (word: string, name: string, opts: { output: Format }) => {
      serverOnly(word);
      await diffServerCommand(lifecycleCtx, name, opts.output);
    });

  program
    .command("delete")
    .description("delete one object (refused while others refer to it)")
    .argument("<kind>", "server|label|group|alert|secret|size")
    .argument("<name>")
    .action(async (word: string, name: string) => {
      const kind = anyKind(word);
      try {
        const change = await (await engine()).delete(kind, name);
        print(`${change.kind}/${change.name} deleted\n`);
      } catch (e) {
        if (isLabError(e) && e.code === "LAB_E_CONFLICT") printDiagnostics(io, err, e.diagnostics);
        throw e;
      }
    });

  const state = program.command("state").description("the state database: check, back up, restore");
  state
    .command("path")
    .description("print where the state lives")
    .action(() => print(`${statePath(io.env)}\n`));
  state
    .command("check")
    .description("check the database's integrity and schema")
    .addOption(outputOption())
    .action((opts: { output: Format }) => {
      const report = checkSqlite(statePath(io.env));
      emit(opts.output, report, () =>
        [
          `Database: ${report.path} (${report.sizeBytes} bytes)`,
          `Integrity: ${report.integrity.join("; ")}`,
          `Migrations: ${report.migrations.applied.length} applied, ${report.migrations.known.length} known`,
          `Objects: ${report.objects}, events: ${report.events}`,
          report.ok ? "OK\n" : `DAMAGED: ${CATALOGUE.LAB_E_STORE_CORRUPT.hint}\n`,
        ].join("\n"),
      );
      if (!report.ok) throw new LabError("LAB_E_STORE_CORRUPT", `${report.path} failed the check`);
    });
  state
    .command("backup")
    .description("copy the database safely while it is in use (SQLite online backup)")
    .argument("[file]", "destination (default: LAB_HOME/backups/state-<time>.db)")
    .action(async (file?: string) => {
      const dest =
        file ??
        join(labHome(io.env), "backups", `state-${new Date().toISOString().replace(/[:.]/g, "-")}.db`);
      const { bytes } = await backupSqlite(statePath(io.env), dest);
      print(`Backed up ${displayPath(statePath(io.env))} to ${dest} (${bytes} bytes)\n`);
    });
  state
    .command("restore")
    .description("replace the database with a checked backup (the current one is kept aside)")
    .argument("<file>")
    .action((file: string) => {
      const { previous } = restoreSqlite(statePath(io.env), file);
      print(`Restored ${file} to ${displayPath(statePath(io.env))}\n`);
      if (previous) print(`The previous database was kept at ${previous}\n`);
    });

  state
    .command("migrate")
    .description("copy the local SQLite state into PostgreSQL, verified table by table")
    .requiredOption("--to <url>", "postgres://user@host:5432/database (empty, or Lab's schema only)")
    .action(async (opts: { to: string }) => {
      const report = await migrateState(statePath(io.env), opts.to, (line) => print(`${line}\n`));
      print(`Migrated and verified: ${report.map((t) => `${t.table} ${t.rows}`).join(", ")}\n`);
      print(`Point the server at it: lab server --db ${opts.to.replace(/\/\/[^@/]*@/, "//…@")}\n`);
    });

  program
    .command("render")
    .description(
      "write monitoring configuration generated from the fleet (render alerts), or compare a label at every provider (--label L --all-providers)",
    )
    .argument("[what]", "alerts")
    .addOption(
      new Option("--backend <backend>", "render alerts: monitoring system").choices(["prometheus", "naemon"]),
    )
    .option("--out <dir>", "render alerts: folder to write into (files are replaced atomically)")
    .option("--label <label>", "--all-providers: the label to compare")
    .option("--all-providers", "the label at every provider, side by side, with a cost estimate")
    .option(
      "--prices <file>",
      "--all-providers: a YAML file with prices: (over the model's and the shipped default)",
    )
    .addOption(outputOption())
    .action(
      async (
        what: string | undefined,
        opts: {
          backend?: Backend;
          out?: string;
          label?: string;
          allProviders?: boolean;
          prices?: string;
          output: Format;
        },
      ) => {
        if (opts.allProviders || (what === undefined && opts.label)) {
          if (what !== undefined) throw usage(`render --all-providers takes no <what> (got "${what}")`);
          if (!opts.label) throw usage("render --all-providers needs --label L");
          if (!opts.allProviders) throw usage("render --label L needs --all-providers");
          if (opts.backend || opts.out)
            throw usage("--backend and --out are for render alerts, not --all-providers");
          const { renderAllProviders } = await import("./commands/render-providers.js");
          return renderAllProviders(
            { io, print, emit, out, open },
            { label: opts.label, output: opts.output, ...(opts.prices ? { prices: opts.prices } : {}) },
          );
        }
        if (what === undefined)
          throw usage(
            "expected `lab render alerts --backend B --out DIR` or `lab render --label L --all-providers`",
          );
        if (what !== "alerts")
          throw usage(`cannot render "${what}": only alerts (or --label L --all-providers)`);
        if (opts.prices) throw usage("--prices is for render --label L --all-providers, not render alerts");
        if (!opts.backend) throw usage("render alerts needs --backend prometheus|naemon");
        if (!opts.out) throw usage("render alerts needs --out DIR");
        const dir = opts.out;
        const backend = opts.backend;
        const e = await engine();
        const rendered = await e.render(backend, resolve(dir));
        const report = writeRendered(dir, rendered.files);
        await e.noteRendered({
          backend,
          out: resolve(dir),
          changed: report.changed.length,
          unchanged: report.unchanged.length,
          removed: report.removed.length,
        });
        emit(opts.output, { ...report, unrenderable: rendered.unrenderable }, () => {
          const lines = [
            ...report.changed.map((f) => `${out.yellow("changed")}    ${f}`),
            ...report.removed.map((f) => `${out.red("removed")}    ${f}`),
            `${backend} → ${dir}: ${report.changed.length} changed, ${report.unchanged.length} unchanged, ${report.removed.length} removed`,
            ...rendered.unrenderable.map(
              (u) =>
                `not rendered: ${u.alert} (${u.reason}) on ${u.servers.length} server${u.servers.length === 1 ? "" : "s"}`,
            ),
          ];
          return `${lines.join("\n")}\n`;
        });
      },
    );

  registerServerLifecycleCommands(program, lifecycleCtx);
  registerRemoteCommands(program, { io, print, emit, out, open });
  registerMigrateCommand(program, { io, print, emit, out, open, ask: (q) => ask(q, io) });
  registerBastionCommand(program, { io, print, emit, out, open });
  registerProvisionCommands(program, { io, print, emit, out, open, ask: (q) => ask(q, io) });
  registerOnboardCommand(program, { io, print, emit, out, open, ask: (q) => ask(q, io) });
  registerRemoteAccessCommands(program, { print, emit, out });
  registerSecretCommands(program, { io, print, emit, out, open });
  registerLogCommands(program, { io, print, emit, out, open });
  registerPuppetCommands(program, { io, print, out, open });
  registerBuildCommands(program, { io, print, emit, out, open });
  // `lab exec` exits with the remote command's code.
  registerRunCommands(program, runCtx);
  registerKubeCommands(program, runCtx);
  registerPowerCommands(program, {
    io,
    print,
    emit,
    out,
    open,
    engine,
    actor: actor(io.env),
    setExitCode: (c) => {
      exitCode = c;
    },
  });
  registerAgentCommands(program, {
    io,
    print,
    emit,
    out,
    open,
    setExitCode: (c) => {
      exitCode = c;
    },
  });

  program
    .command("tui")
    .description("the k9s-style terminal UI: servers, machines, labels, groups, alerts, secrets, events")
    .argument(
      "[view]",
      'start here: servers, machines, labels, groups, alerts, secrets, events, logs (or "server NAME")',
    )
    .action(async (view?: string) => {
      const session = await open();
      // Ink and React load only here.
      const { runTuiCommand } = await import("./commands/tui.js");
      await runTuiCommand(session, io.env, view);
    });

  program
    .command("completion")
    .description("print a shell completion script")
    .argument("<shell>", SHELLS.join("|"))
    .action((shell: string) => {
      print(completionScript(shell, program));
    });

  program
    .command("__complete", { hidden: true })
    .argument("<kind>")
    .action(async (word: string) => {
      const kind = kindFromWord(word);
      if (!kind) return;
      print(`${(await (await engine()).names(kind)).join("\n")}\n`);
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (e) {
    return reportError(e, io, err);
  } finally {
    await session?.close();
  }
}

/** One line from the terminal; refuses to guess when there is no terminal to ask. */
async function ask(question: string, io: IO): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new LabError(
      "LAB_E_USAGE",
      "not a terminal, so nothing to answer the question: pass --yes to proceed",
    );
  }
  io.stdout.write(question);
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin });
  try {
    return await rl.question("");
  } finally {
    rl.close();
  }
}

type FilterOpts = {
  label?: string[];
  group?: string[];
  environment?: string[];
  region?: string[];
  exclude?: string[];
};

function toFilter(o: FilterOpts): ServerFilter {
  return {
    labels: o.label?.flatMap(splitCommas),
    groups: o.group?.flatMap(splitCommas),
    environments: o.environment?.flatMap(splitCommas),
    regions: o.region?.flatMap(splitCommas),
    exclude: o.exclude?.flatMap(splitCommas),
  };
}

function splitCommas(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
}

function listKind(word: string): ListKind {
  const w = word.toLowerCase();
  if (w === "event" || w === "events") return "event";
  const kind = kindFromWord(w);
  if (!kind) throw usage(`unknown kind "${word}": expected one of ${GET_KINDS.join(", ")}`);
  return kind;
}

function showKind(word: string): ShowKind {
  const kind = kindFromWord(word);
  if (!kind || !(SHOW_KINDS as string[]).includes(kind)) {
    throw usage(`cannot show "${word}": expected one of ${SHOW_KINDS.join(", ")}`);
  }
  return kind as ShowKind;
}

function anyKind(word: string): Kind {
  const kind = kindFromWord(word);
  if (!kind) throw usage(`unknown kind "${word}"`);
  return kind;
}

function serverOnly(word: string): void {
  if (kindFromWord(word) !== "server") throw usage(`expected "server", got "${word}"`);
}

function usage(message: string): LabError {
  return new LabError("LAB_E_USAGE", message);
}

/** `file:line:col: error LAB_E_…: message`, then what to do, like a compiler. */
export function printDiagnostics(io: IO, style: Style, diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) {
    const where = d.location ? `${formatLocation(d.location)}: ` : "";
    const level = d.severity === "error" ? style.red("error") : style.yellow("warning");
    io.stderr.write(`${where}${level} ${d.code}: ${d.message}\n`);
    for (const r of d.related ?? []) io.stderr.write(`  see also ${formatLocation(r)}\n`);
    io.stderr.write(style.dim(`  → ${CATALOGUE[d.code].hint}\n`));
  }
}

function reportError(e: unknown, io: IO, style: Style): number {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) {
      return EXIT.ok;
    }
    return EXIT.usage; // commander already printed the message
  }
  if (isLabError(e)) {
    io.stderr.write(`${style.red("error")} ${e.code}: ${e.message}\n`);
    if (!e.message.includes(e.hint)) io.stderr.write(style.dim(`  → ${e.hint}\n`));
    return e.exitCode;
  }
  const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
  io.stderr.write(`${style.red("error")} LAB_E_INTERNAL: ${message}\n  → ${CATALOGUE.LAB_E_INTERNAL.hint}\n`);
  return EXIT.error;
}
