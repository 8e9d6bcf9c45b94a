/**
 * A uPlot chart as a component: made once, given new data with setData (no re-creation per
 * update, which is what keeps a chart fed by a live stream cheap), resized with its box.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export interface Series {
  label: string;
  color: string;
}

const AXIS = { stroke: "#8593a3", grid: { stroke: "#2a3540", width: 1 }, ticks: { stroke: "#2a3540" } };

export function Chart({
  title,
  series,
  data,
  height = 180,
  bars,
  xLabels,
  testid,
}: {
  title: string;
  series: Series[];
  /** uPlot's aligned data: [x values, ...one array per series]. x is unix seconds unless xLabels. */
  data: (number | null)[][];
  height?: number;
  /** Bars over categories (xLabels), not lines over time. */
  bars?: boolean;
  xLabels?: string[];
  testid?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${series.map((s) => s.label).join("|")}/${bars ? "bars" : "lines"}/${(xLabels ?? []).join("|")}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      // Labels only: values under the cursor are noise on a wall screen.
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: !bars } },
      axes: [
        bars ? { ...AXIS, values: (_u, ticks) => ticks.map((t) => xLabels?.[t] ?? "") } : { ...AXIS },
        { ...AXIS, size: 44 },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          fill: bars ? `${s.color}88` : undefined,
          points: { show: false },
          paths: bars ? uPlot.paths.bars?.({ size: [0.6, 80] }) : uPlot.paths.stepped?.({ align: 1 }),
        })),
      ],
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() =>
      plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }),
    );
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return (
    <div class="chart card" data-testid={testid}>
      <h2>{title}</h2>
      <div ref={box} />
    </div>
  );
}
