/**
 * Live: the log pipeline as it happens — every source's events with filters (level and up,
 * node, source, text) and a pause that holds new events without losing them; the server's
 * counts; and three charts: events per level over time, machines per boot stage (from the
 * provisioner's lifecycle), and callback values over time.
 */
import { useMemo, useState } from "preact/hooks";
import { Chart, type Series } from "../chart.js";
import { useApi } from "../data.js";
import { type AuditEvent, alignSeries, type SeriesPoint } from "../live.js";
import { LEVELS, type Level, type LogEvent, passes, useLogs } from "../logs.js";
import { href } from "../router.js";
import { ago } from "../ui.js";
import { MACHINES, type Machine } from "./fleet.js";

const LEVEL_COLOR: Record<Level, string> = {
  trace: "#6b7785",
  debug: "#8593a3",
  info: "#5fb3f9",
  warn: "#f0b429",
  error: "#f2545b",
  fatal: "#ff7ae0",
};
const PALETTE = ["#5fb3f9", "#4cc38a", "#f0b429", "#a98bfa", "#f2545b", "#ff7ae0", "#7ee0d6", "#d8dee6"];
/** The lifecycle in boot order (the provisioner's states), for the boots-per-stage chart. */
const STAGES = ["DISCOVERED", "INSTALL_QUEUE", "INSTALLING", "INSTALLED", "FAILED"];
const SHOWN = 300;
const BUCKET_S = 30;
const WINDOW_S = 600;

export function LivePage({ big }: { big?: boolean }) {
  const hub = useLogs();
  const [level, setLevel] = useState<Level | "">("");
  const [node, setNode] = useState("");
  const [source, setSource] = useState("");
  const [text, setText] = useState("");
  // Paused: the list stays as it was (up to this seq); events keep arriving underneath.
  const [pausedAt, setPausedAt] = useState<number | null>(null);
  const filter = { level, node, source, text };
  const all = hub.events;
  const visible = useMemo(() => {
    const out: LogEvent[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < SHOWN; i--) {
      const e = all[i] as LogEvent;
      if (pausedAt !== null && e.seq > pausedAt) continue;
      if (passes(e, filter)) out.push(e);
    }
    return out;
  }, [hub.version, level, node, source, text, pausedAt]);
  const held = pausedAt === null ? 0 : all.filter((e) => e.seq > pausedAt && passes(e, filter)).length;
  const nodes = Object.keys(hub.counts?.byNode ?? {}).sort();
  const sources = Object.keys(hub.counts?.bySource ?? {}).sort();

  return (
    <div class={`page live-page${big ? " big" : ""}`}>
      <div class="live-head">
        <span class={`link link-${hub.state === "live" ? "live" : "reconnecting"}`} data-testid="log-link">
          ● logs {hub.state}
        </span>
        <span data-testid="log-total">
          <b>{hub.counts?.total ?? "—"}</b> events
        </span>
        {LEVELS.map((l) =>
          hub.counts?.byLevel[l] ? (
            <span key={l} class="chip" style={{ borderColor: LEVEL_COLOR[l] }}>
              {l} {hub.counts.byLevel[l]}
            </span>
          ) : null,
        )}
        {hub.missed ? (
          <span
            class="error-text"
            data-testid="log-missed"
            title="the server said these did not reach this page"
          >
            missed {hub.missed}
          </span>
        ) : null}
        {hub.state === "unavailable" ? (
          <span class="error-text">log stream unavailable: {hub.problem}</span>
        ) : null}
      </div>
      <div class="filter live-filter">
        <select
          name="level"
          value={level}
          onChange={(e) => setLevel((e.target as HTMLSelectElement).value as Level | "")}
        >
          <option value="">every level</option>
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l} and up
            </option>
          ))}
        </select>
        <select name="node" value={node} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
          <option value="">every node</option>
          {nodes.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
        <select
          name="source"
          value={source}
          onChange={(e) => setSource((e.target as HTMLSelectElement).value)}
        >
          <option value="">every source</option>
          {sources.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
        <input
          name="text"
          placeholder="text in the message"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <button
          type="button"
          data-testid="pause"
          class={pausedAt === null ? "" : "primary"}
          onClick={() => setPausedAt(pausedAt === null ? (hub.lastSeq ?? 0) : null)}
        >
          {pausedAt === null ? "Pause" : `Resume (${held} new)`}
        </button>
      </div>
      <Charts events={all} version={hub.version} />
      <Audit />
      <div class="card log-list" data-testid="log-list">
        {visible.length === 0 ? (
          <div class="muted">
            no events{filter.level || node || source || text ? " match the filters" : " yet"}
          </div>
        ) : (
          <table class="simple">
            <tbody>
              {visible.map((e) => (
                <tr key={e.seq} data-seq={e.seq} class={`lvl-${e.level}`}>
                  <td class="muted nowrap">{e.time.slice(11, 23)}</td>
                  <td class="nowrap" style={{ color: LEVEL_COLOR[e.level] }}>
                    {e.level}
                  </td>
                  <td class="nowrap">{e.node ? <a href={href("servers", e.node)}>{e.node}</a> : "—"}</td>
                  <td class="muted nowrap">{e.service ?? ""}</td>
                  <td class="msg">{e.message}</td>
                  <td class="muted nowrap">{e.source}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

/** What changed in the model and the machines (the audit log), newest first, as it happens. */
function Audit() {
  const events = useApi<AuditEvent[]>("/events?limit=12");
  return (
    <div class="card audit" data-testid="audit">
      <h2>Changes (audit log)</h2>
      {!events.data?.length ? (
        <div class="muted">nothing recorded yet</div>
      ) : (
        <table class="simple">
          <tbody>
            {events.data.map((e) => (
              <tr key={e.id} data-audit={e.action}>
                <td class="muted nowrap">#{e.id}</td>
                <td class="muted nowrap">{ago(e.time)}</td>
                <td class="nowrap">{e.action}</td>
                <td class={e.result === "ok" ? "msg" : "msg error-text"}>{e.summary}</td>
                <td class="muted nowrap">{e.actor}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Charts({ events, version }: { events: LogEvent[]; version: number }) {
  const machines = useApi<Machine[]>(MACHINES);
  // Re-bucketed at most once per 10-second bucket boundary or new events (version).
  const perLevel = useMemo(() => {
    const now = Math.floor(Date.now() / 1000 / BUCKET_S) * BUCKET_S;
    const xs: number[] = [];
    for (let t = now - WINDOW_S + BUCKET_S; t <= now; t += BUCKET_S) xs.push(t);
    const ys = LEVELS.map(() => xs.map(() => 0));
    const first = xs[0] as number;
    for (const e of events) {
      const t = Math.floor(Date.parse(e.time) / 1000 / BUCKET_S) * BUCKET_S;
      const i = (t - first) / BUCKET_S;
      const row = ys[LEVELS.indexOf(e.level)];
      if (row && i >= 0 && i < xs.length) row[i] = (row[i] ?? 0) + 1;
    }
    return [xs, ...ys];
  }, [version]);
  const callbacks = useMemo(() => {
    // Numeric callback values (source "callbacks"), one line per node/key, the first eight.
    const keys: string[] = [];
    const points: SeriesPoint[] = [];
    for (const e of events) {
      if (e.source !== "callbacks") continue;
      const v = Number(e.attributes.value);
      if (!Number.isFinite(v) || e.attributes.value === "" || typeof e.attributes.value === "boolean")
        continue;
      const key = `${e.node ?? "?"}/${String(e.attributes.key ?? "value")}`;
      let k = keys.indexOf(key);
      if (k < 0) {
        if (keys.length >= 8) continue;
        k = keys.push(key) - 1;
      }
      points.push({ t: Date.parse(e.time) / 1000, k, v });
    }
    return alignSeries(keys, points);
  }, [version]);
  const stages = useMemo(() => {
    const counts = STAGES.map((s) => (machines.data ?? []).filter((m) => m.state === s).length);
    return [STAGES.map((_, i) => i), counts];
  }, [machines.data]);

  // Only the levels that occur get a line: six flat lines at zero say nothing.
  const present = LEVELS.filter((_, i) => (perLevel[i + 1] as number[]).some((n) => n > 0));
  const levelSeries: Series[] = present.map((l) => ({ label: l, color: LEVEL_COLOR[l] }));
  const levelData = [
    perLevel[0] as number[],
    ...present.map((l) => perLevel[LEVELS.indexOf(l) + 1] as number[]),
  ];
  return (
    <div class="charts">
      <Chart
        title="Events per level (per 30 s)"
        series={levelSeries}
        data={levelData}
        testid="chart-levels"
      />
      <Chart
        title="Machines per boot stage"
        series={[{ label: "machines", color: "#a98bfa" }]}
        data={stages}
        bars
        xLabels={STAGES}
        testid="chart-stages"
      />
      {callbacks.keys.length ? (
        <Chart
          title="Callback values"
          series={callbacks.keys.map((k, i) => ({ label: k, color: PALETTE[i % PALETTE.length] as string }))}
          data={callbacks.data}
          testid="chart-callbacks"
        />
      ) : (
        <div class="chart card" data-testid="chart-callbacks">
          <h2>Callback values</h2>
          <div class="muted">no numeric callback reported yet (POST /api/v1/callbacks with a value)</div>
        </div>
      )}
    </div>
  );
}
