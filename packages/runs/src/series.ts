/** Reliability mode: the same lab over and over, one series, until N runs or a stop. */
import { randomUUID } from "node:crypto";
import type { RunRecord, StepRecord } from "./repo.js";
import type { LabRunner, RunOptions } from "./runner.js";

export interface SeriesOptions extends Omit<RunOptions, "series" | "iteration"> {
  /** How many runs; 0 = until `signal` aborts. */
  repeat: number;
  onRun?: (run: RunRecord & { steps: StepRecord[] }, i: number) => void;
}

export async function runSeries(
  runner: LabRunner,
  opts: SeriesOptions,
): Promise<{ series: string; runs: number }> {
  const series = randomUUID();
  let i = 0;
  while (opts.repeat === 0 || i < opts.repeat) {
    if (opts.signal?.aborted) break;
    i++;
    const run = await runner.run({ ...opts, series, iteration: i });
    opts.onRun?.(run, i);
  }
  return { series, runs: i };
}
