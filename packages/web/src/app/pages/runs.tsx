/**
 * Lab runs: the list with each lab's reliability per step (GET /api/v1/runs/report), and the
 * progress slideshow (labwatch's progress page, for a screen beside the rig): a slide per
 * step with its `explain:` text and each machine's status, advancing when the run's
 * `run.step` events arrive on the event stream. `#/runs/latest?lab=NAME` follows the newest
 * run of a lab, moving on to the next run when `run.started` arrives.
 */
import { useEffect, useState } from "preact/hooks";
import { useApi } from "../data.js";
import { useLive } from "../live.js";
import { href } from "../router.js";
import { ago, ErrorBox, Loading, Section } from "../ui.js";

interface RunRecord {
  id: string;
  lab: string;
  series: string | null;
  iteration: number;
  status: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  error: string | null;
}
interface StepRecord {
  idx: number;
  machine: string;
  name: string;
  action: string;
  status: string;
  startedAt: string;
  durationMs: number | null;
  detail: string;
}
interface Plan {
  name: string;
  description: string | null;
  steps: { idx: number; name: string; action: string; machines: string[]; explain: string | null }[];
}
interface Report {
  runs: number;
  ok: number;
  failed: number;
  timeout: number;
  steps: {
    idx: number;
    name: string;
    attempts: number;
    ok: number;
    failed: number;
    timeout: number;
    meanMs: number | null;
    maxMs: number | null;
  }[];
}

const secs = (ms: number | null) => (ms === null ? "—" : `${(ms / 1000).toFixed(1)} s`);

/** The newest live audit event about lab NAME (its id), so views refetch when one arrives. */
function useLabEvents(lab: string | null): number {
  const hub = useLive();
  let newest = 0;
  if (lab)
    for (const e of hub.recent)
      if (e.action.startsWith("run.") && e.subjects.includes(`lab/${lab}`)) newest = Math.max(newest, e.id);
  return newest;
}

export function RunsPage({ lab }: { lab: string | null }) {
  const q = lab ? `?lab=${encodeURIComponent(lab)}&limit=50` : "?limit=50";
  const runs = useApi<RunRecord[]>(`/runs${q}`);
  const hub = useLive();
  let newest = 0;
  for (const e of hub.recent) if (e.action === "run.finished" || e.action === "run.started") newest = e.id;
  useEffect(() => {
    if (newest) runs.reload();
  }, [newest]);
  if (runs.error) return <ErrorBox error={runs.error} />;
  if (!runs.data) return <Loading />;
  const labs = [...new Set(runs.data.map((r) => r.lab))];
  return (
    <div class="page runs">
      <header class="title">
        <h1>Lab runs{lab ? `: ${lab}` : ""}</h1>
        <span class="muted">`lab run LAB` starts one; `--repeat N` is reliability mode</span>
      </header>
      {runs.data.length === 0 ? <div class="muted">no lab has run yet</div> : null}
      {labs.map((l) => (
        <Reliability lab={l} key={l} />
      ))}
      <Section title="Runs" count={runs.data.length}>
        <table class="simple" data-testid="runs">
          <tbody>
            {runs.data.map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td>
                  <a href={href("runs", r.id)}>{r.id.slice(0, 8)}</a>
                </td>
                <td>{r.lab}</td>
                <td class={`s-${r.status === "ok" ? "ok" : r.status === "running" ? "unknown" : "failed"}`}>
                  {r.status}
                </td>
                <td>#{r.iteration}</td>
                <td>{secs(r.durationMs)}</td>
                <td class="muted">{ago(r.startedAt)}</td>
                <td class="error-text">{r.error ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}

/** Per step: ok / failed / timed out as one bar each (least reliable first, as the report sorts). */
function Reliability({ lab }: { lab: string }) {
  const r = useApi<Report>(`/runs/report?lab=${encodeURIComponent(lab)}`);
  const newest = useLabEvents(lab);
  useEffect(() => {
    if (newest) r.reload();
  }, [newest]);
  if (!r.data) return r.error ? <ErrorBox error={r.error} /> : <Loading />;
  const d = r.data;
  return (
    <Section
      title={`Reliability: ${lab} — ${d.runs} runs, ${d.ok} ok, ${d.failed} failed, ${d.timeout} timed out`}
    >
      <div class="reliability" data-testid={`reliability-${lab}`}>
        {d.steps.map((s) => (
          <div class="rel-row" key={s.idx} data-step={s.idx}>
            <span class="rel-name">
              {s.idx + 1}. {s.name}
            </span>
            <span class="rel-bar" title={`${s.ok} ok, ${s.failed} failed, ${s.timeout} timed out`}>
              {s.attempts ? (
                <>
                  <span class="rel-ok" style={{ flexGrow: s.ok }} />
                  <span class="rel-failed" style={{ flexGrow: s.failed }} />
                  <span class="rel-timeout" style={{ flexGrow: s.timeout }} />
                </>
              ) : null}
            </span>
            <span class="rel-figures">
              {s.ok}/{s.attempts} ok{s.failed ? ` · ${s.failed} failed` : ""}
              {s.timeout ? ` · ${s.timeout} timed out` : ""} · mean {secs(s.meanMs)} · max {secs(s.maxMs)}
            </span>
          </div>
        ))}
      </div>
    </Section>
  );
}

/** `#/runs/ID` (or `latest`, with ?lab=): the slideshow. */
export function RunSlides({ id, lab }: { id: string; lab: string | null }) {
  const latest = id === "latest";
  const list = useApi<RunRecord[]>(
    latest ? `/runs?limit=1${lab ? `&lab=${encodeURIComponent(lab)}` : ""}` : null,
  );
  const runId = latest ? list.data?.[0]?.id : id;
  const run = useApi<RunRecord & { steps: StepRecord[] }>(
    runId ? `/runs/${encodeURIComponent(runId)}` : null,
  );
  const labName = run.data?.lab ?? lab;
  const plan = useApi<Plan>(labName ? `/labs/${encodeURIComponent(labName)}` : null);
  const newest = useLabEvents(labName ?? null);
  useEffect(() => {
    if (!newest) return;
    if (latest) list.reload();
    run.reload();
  }, [newest]);
  // The slide shown: the run's current step; a person may page back and forth, until the
  // next step starts (then the show follows the run again).
  const current = run.data ? Math.max(-1, ...run.data.steps.map((s) => s.idx)) : -1;
  const [picked, setPicked] = useState<{ idx: number; at: number } | null>(null);
  useEffect(() => setPicked(null), [current, runId]);
  const error = list.error ?? run.error ?? plan.error;
  if (error) return <ErrorBox error={error} />;
  if (latest && list.data?.length === 0) return <div class="muted">no run of {lab ?? "any lab"} yet</div>;
  if (!run.data || !plan.data) return <Loading />;
  const r = run.data;
  const steps = plan.data.steps;
  const shown = picked?.idx ?? Math.max(0, current);
  const slide = steps[shown];
  const rows = r.steps.filter((s) => s.idx === shown);
  return (
    <div class="page slides" data-testid="slides" data-run={r.id} data-status={r.status}>
      <header class="title">
        <h1>
          {r.lab}{" "}
          <span class="muted">
            run {r.id.slice(0, 8)} · #{r.iteration}
          </span>
        </h1>
        <span
          class={`run-status s-${r.status === "ok" ? "ok" : r.status === "running" ? "unknown" : "failed"}`}
          data-testid="run-status"
        >
          {r.status}
          {r.durationMs !== null ? ` in ${secs(r.durationMs)}` : ""}
        </span>
      </header>
      <div class="dots" data-testid="dots">
        {steps.map((s) => {
          const st = stepStatus(r.steps, s.idx);
          return (
            <button
              type="button"
              key={s.idx}
              class={`dot s-${st}${s.idx === shown ? " here" : ""}`}
              title={`${s.idx + 1}. ${s.name}: ${st}`}
              data-dot={s.idx}
              data-status={st}
              onClick={() => setPicked({ idx: s.idx, at: Date.now() })}
            >
              {s.idx + 1}
            </button>
          );
        })}
      </div>
      {slide ? (
        <div
          class="slide card"
          data-testid="slide"
          data-step={slide.idx}
          data-status={stepStatus(r.steps, slide.idx)}
        >
          <div class="slide-count muted">
            step {slide.idx + 1} of {steps.length} · {slide.action}
          </div>
          <h2 class="slide-name">{slide.name}</h2>
          <p class="slide-explain" data-testid="explain">
            {slide.explain ?? "—"}
          </p>
          <table class="simple slide-machines">
            <tbody>
              {slide.machines.map((m) => {
                const row = rows.find((x) => x.machine === m);
                return (
                  <tr key={m} data-machine={m}>
                    <td>{m === "-" ? "the lab" : m}</td>
                    <td class={`s-${row ? statusClass(row.status) : "unknown"}`}>
                      {row?.status ?? "waiting"}
                    </td>
                    <td>{row ? secs(row.durationMs) : "—"}</td>
                    <td class="muted">{row?.detail ?? ""}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {r.error ? (
        <div class="error-text" data-testid="run-error">
          {r.error}
        </div>
      ) : null}
      <Reliability lab={r.lab} />
    </div>
  );
}

const statusClass = (s: string) => (s === "ok" ? "ok" : s === "running" ? "unknown" : "failed");

/** A step's status over its machines: failed/timeout wins, then running, then ok; pending if not begun. */
function stepStatus(rows: StepRecord[], idx: number): string {
  const mine = rows.filter((s) => s.idx === idx);
  if (!mine.length) return "pending";
  for (const bad of ["failed", "timeout", "stopped", "running"])
    if (mine.some((s) => s.status === bad)) return bad;
  return "ok";
}
