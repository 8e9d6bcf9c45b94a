/**
 * Entry point bundled by run.mjs into out/bench.mjs. Subcommands print JSON on stdout:
 *   generate DIR [SERVERS]       write the synthetic fleet's YAML under DIR (default 10,000 servers)
 *   inprocess DIR LAB_HOME       in-process engine measurements
 *   first LAB_HOME SERVER        first resolve in a fresh process (JIT-cold)
 *   resolve-all LAB_HOME [RUNS]  resolveAll() on fresh Fleets (a target for --cpu-prof)
 */
import { DEFAULT_SHAPE, generateFleet, writeFleet } from "./generate.js";
import { measureFirstInProcess, measureInProcess, runResolveAll } from "./measure.js";

const [command, ...args] = process.argv.slice(2);

async function main(): Promise<unknown> {
  if (command === "generate") {
    const dir = args[0] ?? "bench/engine/out/fleet";
    const servers = Number(args[1] ?? DEFAULT_SHAPE.servers);
    const t0 = performance.now();
    const fleet = generateFleet({ ...DEFAULT_SHAPE, servers });
    const written = writeFleet(dir, fleet);
    const levels: Record<string, number> = {};
    for (const l of Object.values(fleet.groupLevel)) levels[`level${l}`] = (levels[`level${l}`] ?? 0) + 1;
    return {
      dir,
      ms: performance.now() - t0,
      shape: fleet.shape,
      counts: {
        servers: Object.keys(fleet.servers).length,
        labels: Object.keys(fleet.labels).length,
        groups: Object.keys(fleet.groups).length,
        alerts: fleet.alerts.length,
        sizes: Object.keys(fleet.sizes).length,
        secrets: Object.keys(fleet.secrets).length,
        classes: Object.keys(fleet.classes).length,
        groupLevels: levels,
        groupsWithExclude: Object.values(fleet.groups).filter((g) => g.exclude).length,
        alertsWithExclude: fleet.alerts.filter((a) => a.exclude).length,
      },
      files: written.length,
      bytes: written.reduce((n, f) => n + f.bytes, 0),
    };
  }
  if (command === "inprocess") {
    const [fleetDir, labHome] = args;
    if (!fleetDir || !labHome) throw new Error("usage: inprocess FLEET_DIR LAB_HOME");
    return measureInProcess({ fleetDir, labHome, coldSamples: 300, warmSamples: 2000, resolveAllRuns: 5 });
  }
  if (command === "first") {
    const [labHome, name] = args;
    if (!labHome || !name) throw new Error("usage: first LAB_HOME SERVER");
    return measureFirstInProcess(labHome, name);
  }
  if (command === "resolve-all") {
    const [labHome, runs] = args;
    if (!labHome) throw new Error("usage: resolve-all LAB_HOME [RUNS]");
    return runResolveAll(labHome, Number(runs ?? 3));
  }
  throw new Error(`unknown command ${command ?? "(none)"}: generate | inprocess | first | resolve-all`);
}

process.stdout.write(`${JSON.stringify(await main())}\n`);
