/**
 * The ready virtual lab (test/support/virtual-lab.ts, the labs in examples/virtual-lab/labs.yaml):
 * three QEMU VMs powered through QMP network-boot from `lab server --pxe` in a network namespace,
 * and `lab run` (client mode: the server runs the lab) takes them from cold metal to enrolled.
 *
 *  - `virtual-3`: off → Lab forgets them → on → iPXE dispatch → DISCOVERED (the discovery image
 *    posts the hardware) → install lab-vm → power-cycle → INSTALLED (the test install's stages)
 *    → enrolled (the VM runs Lab's agent with its one-time join token; a heartbeat arrives) →
 *    load samples (the agents' /proc/loadavg as callbacks) → off. One run (CI).
 *  - `virtual-3-chaos` on the enrolled lab: a service restarted through vm-1's agent (its two
 *    PIDs in the record), vm-2's network cut in the namespace (its load samples stop, then
 *    resume after the reconnect step).
 *  - `virtual-3-dispatch`: the light lab for reliability runs; LAB_VLAB_RUNS=N repeats it N
 *    times (default 2) and prints `lab run report`.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDiskMarker } from "../support/qemu.js";
import { startVirtualLab, type VirtualLab } from "../support/virtual-lab.js";

const RUNS = Number(process.env.LAB_VLAB_RUNS ?? 2);

interface Step {
  idx: number;
  machine: string;
  name: string;
  action: string;
  status: string;
  detail: string;
  startedAt: string;
  endedAt: string;
}

let vl: VirtualLab;

async function lastRun(lab: string): Promise<{ status: string; steps: Step[] }> {
  const runs = JSON.parse((await vl.cli(["get", "runs", "-o", "json"])).stdout) as {
    id: string;
    lab: string;
  }[];
  const id = runs.find((r) => r.lab === lab)?.id as string;
  return JSON.parse((await vl.cli(["describe", "run", id, "-o", "json"])).stdout);
}

async function diagnose(): Promise<void> {
  for (const m of vl.machines)
    console.log(`── ${m.name} serial (tail) ──\n${(await m.vm.serialText()).slice(-2500)}`);
  console.log(`── lab server (tail) ──\n${vl.server.output().slice(-4000)}`);
}

beforeAll(async () => {
  vl = await startVirtualLab({ prefix: "labh14", say: (l) => console.log(`virtual lab: ${l}`) });
}, 900_000);

afterAll(async () => {
  await vl?.close();
});

describe("the virtual lab", () => {
  it("virtual-3: three VMs powered over QMP are discovered, installed and enrolled", async () => {
    const started = Date.now();
    const r = await vl.cli(["run", "virtual-3"]);
    console.log(r.stdout);
    if (r.code !== 0) await diagnose();
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse((await vl.cli(["provision", "list", "-o", "json"])).stdout) as {
      mac: string;
      name: string | null;
      state: string;
    }[];
    for (const m of vl.machines) {
      expect(list.find((x) => x.mac === m.vm.mac)).toMatchObject({ name: m.name, state: "INSTALLED" });
      // The installer wrote its marker to the VM's own disk, during this run.
      const marker = await readDiskMarker(m.disk);
      expect(marker?.mac).toBe(m.vm.mac);
      expect(new Date(marker?.time ?? 0).getTime()).toBeGreaterThan(started - 1000);
    }
    const agents = JSON.parse((await vl.cli(["identity", "list", "-o", "json"])).stdout) as {
      name: string;
    }[];
    for (const m of vl.machines) expect(agents.map((a) => a.name)).toContain(m.name);
    const run = await lastRun("virtual-3");
    const enrolled = run.steps.filter((s) => s.action === "wait-enrolled");
    expect(enrolled.map((s) => s.status)).toEqual(["ok", "ok", "ok"]);
    // Observed load: the samples the agents measured, in the record.
    for (const s of run.steps.filter((x) => x.action === "wait-callback"))
      expect(s.detail).toMatch(/^load\.1m=ok \d+(\.\d+)? at /);
  }, 1_800_000);

  it("virtual-3-chaos: a service restarted through the agent and a cut network show in the record", async () => {
    const r = await vl.cli(["run", "virtual-3-chaos"]);
    console.log(r.stdout);
    if (r.code !== 0) await diagnose();
    expect(r.code, r.stderr).toBe(0);
    const run = await lastRun("virtual-3-chaos");
    const step = (action: string, machine: string) =>
      run.steps.find((s) => s.action === action && s.machine === machine) as Step;
    // The restart, through vm-1's agent: two different PIDs.
    const restart = step("chaos-restart-service", "vm-1").detail;
    const pids = /pid (\d+) -> (\d+)/.exec(restart);
    expect(pids, restart).not.toBeNull();
    expect(pids?.[1]).not.toBe(pids?.[2]);
    // The cut: vm-2's samples came back only after the reconnect step (the wait began then).
    const cut = step("chaos-cut-network", "vm-2");
    const back = step("wait-callback", "vm-2");
    const sampleAt = new Date(/ at (\S+)$/.exec(back.detail)?.[1] ?? 0).getTime();
    expect(sampleAt).toBeGreaterThan(new Date(cut.endedAt).getTime() + 20_000);
    // … and on the event stream (what the Live page charts): vm-2's samples have a gap that
    // spans the cut, while vm-3 kept reporting every few seconds through it.
    const window = [new Date(cut.startedAt).getTime(), new Date(back.endedAt).getTime()] as const;
    const gapIn = async (node: string) => {
      const out = await vl.cli([
        "logs",
        "--node",
        node,
        "--source",
        "callbacks",
        "--since",
        "1h",
        "--limit",
        "5000",
        "-o",
        "json",
      ]);
      const times = out.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { time: string; attributes?: { key?: string } })
        .filter((e) => e.attributes?.key === "load.1m")
        .map((e) => new Date(e.time).getTime())
        .filter((t) => t >= window[0] - 10_000 && t <= window[1])
        .sort((a, b) => a - b);
      let gap = 0;
      for (let i = 1; i < times.length; i++)
        gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
      return { gap, samples: times.length };
    };
    const cutGap = await gapIn("vm-2");
    const steady = await gapIn("vm-3");
    console.log(
      `load samples around the cut: vm-2 ${JSON.stringify(cutGap)}, vm-3 ${JSON.stringify(steady)}`,
    );
    expect(cutGap.gap).toBeGreaterThanOrEqual(20_000);
    expect(steady.samples).toBeGreaterThan(3);
    expect(steady.gap).toBeLessThan(cutGap.gap);
  }, 1_800_000);

  it(`virtual-3-dispatch: ${RUNS} consecutive runs, reported per step`, async () => {
    const r = await vl.cli(["run", "virtual-3-dispatch", "--repeat", String(RUNS)]);
    const report = await vl.cli(["run", "report", "virtual-3-dispatch"]);
    console.log(
      `${r.stdout
        .split("\n")
        .filter((l) => /^(ok|failed|timeout):/.test(l))
        .join("\n")}\n${report.stdout}`,
    );
    const json = (await vl.cli(["run", "report", "virtual-3-dispatch", "-o", "json"])).stdout;
    writeFileSync(join(tmpdir(), "lab-vlab-report.json"), json);
    const parsed = JSON.parse(json) as { runs: number; ok: number };
    expect(parsed.runs).toBe(RUNS);
    expect(parsed.ok).toBe(RUNS);
  }, 3_600_000);
});
