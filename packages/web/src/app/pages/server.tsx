/**
 * One server: what applies to it and why (the provenance tree, as `lab show server`),
 * what excluded it, its pillars and health, its identity, its boot timeline and the actions
 * a write token may take, each behind a confirmation.
 */

import type { Resolution } from "@lab/core";
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, api, canWrite, isAdmin, type Principal, streamLines } from "../api.js";
import { Chart } from "../chart.js";
import { useApi } from "../data.js";
import { PHASES, phasesSeen, useFollow } from "../follow.js";
import { type AuditEvent, alignSeries, type SeriesPoint, useLive } from "../live.js";
import { type LogEvent, useLogs } from "../logs.js";
import { href, navigate } from "../router.js";
import {
  ActionButton,
  ago,
  ErrorBox,
  Loading,
  PILLARS,
  PillarCell,
  type Pillars,
  Section,
  type Source,
  SourceLink,
  Sources,
  Tree,
} from "../ui.js";
import type { Machine } from "./fleet.js";

interface Description {
  name: string;
  spec: Record<string, unknown>;
  resolution: Resolution;
  definedAt: string | null;
  status: Pillars;
  health: { source: string; state: string; summary: string; updatedAt: string }[];
  identity: Record<string, unknown> | null;
}

export function ServerPage({ name, me }: { name: string; me: Principal | null }) {
  const d = useApi<Description>(`/servers/${encodeURIComponent(name)}/describe`);
  if (d.error) return <ErrorBox error={d.error} />;
  if (!d.data) return <Loading />;
  const s = d.data;
  const r = s.resolution;
  return (
    <div class="page server">
      <header class="title">
        <h1>{s.name}</h1>
        <span class="muted">
          {r.provider} · env {r.environment ?? "—"} · region {r.region ?? "—"} · size {r.size?.name ?? "—"}
          {s.definedAt ? ` · defined at ${s.definedAt}` : ""}
        </span>
      </header>
      <div class="pillars-big">
        {PILLARS.map((p) => (
          <div class={`pillar-card s-${s.status[p].state}`} key={p} data-pillar={p}>
            <div class="label">{p}</div>
            <div class="value">
              <PillarCell p={s.status[p]} name={p} />
            </div>
            <div class="reason">{s.status[p].reason ?? s.status[p].state}</div>
          </div>
        ))}
      </div>
      <div class="columns">
        <div>
          <Section title="Labels" count={r.labels.length}>
            <div class="chips">
              {r.labels.map((l) => (
                <a class="chip" href={href("labels", l)} key={l}>
                  {l}
                </a>
              ))}
            </div>
          </Section>
          <Section title="Groups" count={r.groups.length}>
            <Tree
              items={r.groups.map((g) => (
                <>
                  <a href={href("groups", g.name)}>{g.name}</a> <span class="muted">← </span>
                  <Sources from={g.from} />
                </>
              ))}
            />
          </Section>
          <Provenance
            title="Puppet classes"
            items={r.classes.map((c) => ({ key: c.name, node: c.name, from: c.from }))}
          />
          <Provenance
            title="Alerts"
            items={r.alerts.map((a) => ({
              key: a.name,
              node: (
                <>
                  <a href={href("alerts", a.name)}>{a.name}</a>{" "}
                  <span class={`sev sev-${a.severity}`}>{a.severity}</span>
                </>
              ),
              from: a.from,
            }))}
          />
          <Provenance
            title="Secrets"
            items={r.secrets.map((x) => ({
              key: x.name,
              node: (
                <>
                  <a href={href("secrets", x.name)}>{x.name}</a> <span class="muted">({x.access})</span>
                </>
              ),
              from: x.from,
            }))}
          />
          <Provenance
            title="Ports"
            items={r.ports.map((p) => ({ key: String(p.port), node: String(p.port), from: p.from }))}
          />
          <Section title="Excluded from" count={r.excludedFrom.length}>
            {r.excludedFrom.length === 0 ? (
              <div class="muted">nothing excludes this server</div>
            ) : (
              <Tree
                items={r.excludedFrom.map((x) => (
                  <span data-excluded={x.name}>
                    {x.kind} <a href={href(`${x.kind}s`, x.name)}>"{x.name}"</a>{" "}
                    <span class="muted">by </span>
                    <SourceLink s={x.by} />
                    {x.by.reason ? <span class="muted"> ({x.by.reason})</span> : null}
                  </span>
                ))}
              />
            )}
          </Section>
          {r.conflicts.length ? (
            <Section title="Conflicts" count={r.conflicts.length}>
              <Tree items={r.conflicts.map((c) => <span class="error-text">{c.message}</span>)} />
            </Section>
          ) : null}
        </div>
        <div>
          <Power name={s.name} me={me} />
          <Boot name={s.name} me={me} />
          <Section title="Health" count={s.health.length}>
            {s.health.length === 0 ? (
              <div class="muted">{s.status.health.reason ?? "no health source has reported"}</div>
            ) : (
              <table class="simple">
                <tbody>
                  {s.health.map((h) => (
                    <tr key={h.source}>
                      <td>{h.source}</td>
                      <td class={`s-${h.state}`}>{h.state}</td>
                      <td>{h.summary}</td>
                      <td class="muted">{ago(h.updatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
          <Section title="Identity">
            {s.identity ? (
              <table class="simple">
                <tbody>
                  {Object.entries(s.identity).map(([k, v]) => (
                    <tr key={k}>
                      <td>{k}</td>
                      <td>
                        {v === null || v === undefined
                          ? "—"
                          : typeof v === "object"
                            ? JSON.stringify(v)
                            : String(v)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <div class="muted">{s.status.identity.reason ?? "not enrolled"}</div>
            )}
          </Section>
          <NodeLogs name={s.name} />
          <Callbacks name={s.name} />
          <Events name={s.name} />
          {canWrite(me) ? (
            <Section title="Actions">
              {isAdmin(me) ? <Exec name={s.name} /> : null}
              <ActionButton
                label="Delete server"
                action="delete-server"
                danger
                confirm={`Delete server ${s.name} from the model? Its labels stay; the server is no longer targeted by anything.`}
                run={async () => {
                  await api(`/servers/${encodeURIComponent(s.name)}`, { method: "DELETE" });
                  navigate("#/");
                }}
              />
            </Section>
          ) : null}
        </div>
      </div>
    </div>
  );
}

/** Items grouped by where they came from: "FROM LABEL k8s-worker: ├── containerd …". */
function Provenance({
  title,
  items,
}: {
  title: string;
  items: { key: string; node: ComponentChildren; from: Source[] }[];
}) {
  const groups = useMemo(() => {
    const by = new Map<string, { source: Source; nodes: ComponentChildren[] }>();
    for (const item of items) {
      for (const s of item.from) {
        const k = s.kind === "auto" ? "auto" : `${s.kind}/${s.name}`;
        let g = by.get(k);
        if (!g) {
          g = { source: s, nodes: [] };
          by.set(k, g);
        }
        g.nodes.push(
          s.kind === "auto" && s.reason ? (
            <>
              {item.node} <span class="muted">({s.reason})</span>
            </>
          ) : (
            item.node
          ),
        );
      }
    }
    return [...by.values()];
  }, [items]);
  return (
    <Section title={title} count={items.length}>
      {items.length === 0 ? <div class="muted">none</div> : null}
      {groups.map((g) => (
        <div class="prov" key={`${g.source.kind}/${g.source.name}`}>
          <div class="prov-head">
            {g.source.kind === "auto" ? (
              "AUTO-GENERATED"
            ) : (
              <>
                FROM {g.source.kind.toUpperCase()} <SourceLink s={g.source} bare />
              </>
            )}
          </div>
          <Tree items={g.nodes} />
        </div>
      ))}
    </Section>
  );
}

/**
 * The machine Lab network-boots under this name: its state, the boot phases reached, the
 * timeline and install log as they happen (the follow socket), and the provisioning actions.
 */
function Boot({ name, me }: { name: string; me: Principal | null }) {
  const machines = useApi<Machine[]>("/provision/machines");
  const listed = machines.data?.find((x) => x.name === name);
  const followed = useFollow(listed?.mac ?? null);
  // The socket's machine is the newest word on it; the list is the fallback until it speaks.
  const m = followed.machine ?? listed;
  if (!machines.data)
    return (
      <Section title="Boot">{machines.error ? <ErrorBox error={machines.error} /> : <Loading />}</Section>
    );
  if (!m) {
    return (
      <Section title="Boot">
        <div class="muted">not network-booted by Lab (enlist it with `lab provision enlist`)</div>
      </Section>
    );
  }
  const path = `/provision/machines/${encodeURIComponent(m.mac)}`;
  const after = () => machines.reload();
  const phases = phasesSeen(followed.steps, m.state);
  const steps = followed.steps;
  const first = followed.steps[0] ? Date.parse(followed.steps[0].time) : 0;
  return (
    <Section title="Boot">
      <div class="phases" data-testid="phases">
        {PHASES.map((p) => (
          <span key={p} class={`phase${phases[p] ? " done" : ""}`} data-phase={p} data-done={phases[p]}>
            {phases[p] ? "●" : "○"} {p}
          </span>
        ))}
        <span class={`link link-${followed.link === "live" ? "live" : "reconnecting"}`}>
          ● {followed.link}
        </span>
      </div>
      <table class="simple" data-testid="machine">
        <tbody>
          <tr>
            <td>state</td>
            <td data-testid="machine-state">
              <b>{m.state}</b>
              {m.stage ? ` · ${m.stage}` : ""}
              {m.reason ? <span class="muted"> ({m.reason})</span> : null}
            </td>
          </tr>
          <tr>
            <td>mac</td>
            <td>{m.mac}</td>
          </tr>
          <tr>
            <td>ip</td>
            <td>{m.ip ?? "—"}</td>
          </tr>
          <tr>
            <td>image</td>
            <td>{m.image ?? "—"}</td>
          </tr>
          <tr>
            <td>next boot</td>
            <td data-testid="machine-debug">{m.debug ? "rescue (debug)" : "normal"}</td>
          </tr>
        </tbody>
      </table>
      {canWrite(me) ? (
        <div class="actions">
          <ActionButton
            label="Install"
            action="install"
            confirm={`Install ${name} on its next network boot?`}
            run={() => api(`${path}/install`, { method: "POST", body: {} }).then(after)}
          />
          <ActionButton
            label="Reprovision"
            action="reprovision"
            danger
            confirm={`Reprovision ${name}? Its next network boot reinstalls it (preserved mounts are kept).`}
            run={() => api(`${path}/reprovision`, { method: "POST", body: {} }).then(after)}
          />
          <ActionButton
            label="Debug"
            action="debug"
            confirm={`Boot ${name} into the rescue system once?`}
            run={() => api(`${path}/debug`, { method: "POST", body: {} }).then(after)}
          />
          <ActionButton
            label="Forget"
            action="forget"
            danger
            confirm={`Forget machine ${m.mac}? Lab stops answering its boots.`}
            run={() => api(path, { method: "DELETE" }).then(after)}
          />
        </div>
      ) : null}
      <h3>Timeline</h3>
      {steps.length ? (
        <ol class="timeline" data-testid="timeline">
          {steps.map((t) => (
            <li key={`${t.time}|${t.kind}|${t.type}`} class={`tl-${t.kind}`} data-kind={t.kind}>
              <span class="muted">+{((Date.parse(t.time) - first) / 1000).toFixed(1)}s</span> <b>{t.kind}</b>{" "}
              {t.type}
            </li>
          ))}
        </ol>
      ) : (
        <div class="muted">no boot recorded yet</div>
      )}
      {followed.lines.length ? (
        <>
          <h3>Install log</h3>
          <pre class="install-log" data-testid="install-log">
            {followed.lines.slice(-30).join("\n")}
          </pre>
        </>
      ) : null}
    </Section>
  );
}

/** The log pipeline's events about this server, newest first, as they arrive. */
function NodeLogs({ name }: { name: string }) {
  const hub = useLogs();
  const mine: LogEvent[] = [];
  for (let i = hub.events.length - 1; i >= 0 && mine.length < 30; i--) {
    const e = hub.events[i] as LogEvent;
    if (e.node === name) mine.push(e);
  }
  return (
    <Section title="Logs" count={mine.length}>
      {hub.state === "unavailable" ? (
        <div class="muted">the server's log stream is unavailable: {hub.problem}</div>
      ) : mine.length === 0 ? (
        <div class="muted">no log event names this server yet</div>
      ) : (
        <table class="simple" data-testid="node-logs">
          <tbody>
            {mine.map((e) => (
              <tr key={e.seq} class={`lvl-${e.level}`}>
                <td class="muted nowrap">{e.time.slice(11, 19)}</td>
                <td class="nowrap">{e.level}</td>
                <td class="muted nowrap">{e.service ?? e.source}</td>
                <td class="msg">{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <a href={`#/live`} class="muted">
        all events on the Live page →
      </a>
    </Section>
  );
}

interface CallbackEntry {
  key: string;
  status: string;
  value?: unknown;
  at: string;
  stale?: boolean;
}

const CHART_COLORS = ["#5fb3f9", "#4cc38a", "#f0b429", "#a98bfa", "#f2545b", "#7ee0d6"];

/** What workloads and boot scripts report about this server (POST /api/v1/callbacks). */
function Callbacks({ name }: { name: string }) {
  const c = useApi<CallbackEntry[]>(`/callbacks/${encodeURIComponent(name)}`);
  // A report is not an audit event: the log stream's `callbacks` events say when to refetch.
  const hub = useLogs();
  let newest = 0;
  for (let i = hub.events.length - 1; i >= 0; i--) {
    const e = hub.events[i] as LogEvent;
    if (e.source === "callbacks" && e.node === name) {
      newest = e.seq;
      break;
    }
  }
  useEffect(() => {
    if (newest) c.reload();
  }, [newest]);
  // Numeric reports over time (the agent's load samples, load.1m and mem.used.pct, among them),
  // from the callbacks events on the log stream: what the machine reported, as it arrived.
  const series = useMemo(() => {
    const keys: string[] = [];
    const points: SeriesPoint[] = [];
    for (const e of hub.events) {
      if (e.source !== "callbacks" || e.node !== name) continue;
      const raw = e.attributes.value;
      const v = typeof raw === "number" ? raw : Number.NaN;
      if (!Number.isFinite(v)) continue;
      const key = String(e.attributes.key ?? "value");
      let k = keys.indexOf(key);
      if (k < 0) {
        if (keys.length >= 6) continue;
        k = keys.push(key) - 1;
      }
      points.push({ t: Date.parse(e.time) / 1000, k, v });
    }
    return alignSeries(keys, points);
  }, [hub.version, name]);
  return (
    <Section title="Callbacks" count={c.data?.length}>
      {series.keys.length ? (
        <Chart
          title="Reported values (load samples and callbacks)"
          series={series.keys.map((k, i) => ({
            label: k,
            color: CHART_COLORS[i % CHART_COLORS.length] as string,
          }))}
          data={series.data}
          height={140}
          testid="server-callback-chart"
        />
      ) : null}
      {c.error ? (
        <div class="muted">
          {c.error.code}: {c.error.message}
        </div>
      ) : !c.data ? (
        <Loading />
      ) : c.data.length === 0 ? (
        <div class="muted">no callback has reported for this server</div>
      ) : (
        <table class="simple" data-testid="callbacks">
          <tbody>
            {c.data.map((e) => (
              <tr key={e.key} data-callback={e.key}>
                <td>{e.key}</td>
                <td class={`s-${e.status === "ok" ? "ok" : e.status === "warning" ? "warning" : "failed"}`}>
                  {e.status}
                </td>
                <td>{e.value === undefined ? "—" : String(e.value)}</td>
                <td class="muted">
                  {ago(e.at)}
                  {e.stale ? " (stale)" : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** Runs a command through the server's enrolled agent (admin scope), output streamed back. */
function Exec({ name }: { name: string }) {
  const [command, setCommand] = useState("uptime");
  const [out, setOut] = useState<{ text: string; exit: string | null }>({ text: "", exit: null });
  const run = async () => {
    setOut({ text: "", exit: null });
    let text = "";
    await streamLines(`/agents/${encodeURIComponent(name)}/exec`, { command, timeoutSeconds: 60 }, (line) => {
      const m = JSON.parse(line) as {
        type: string;
        data?: string;
        code?: number | null;
        signal?: string | null;
        error?: { code: string; message: string };
      };
      if (m.type === "stdout" || m.type === "stderr") text += atob(m.data ?? "");
      else if (m.type === "exit") setOut({ text, exit: `exit ${m.code ?? m.signal}` });
      else if (m.type === "error")
        throw new ApiError(0, m.error?.code ?? "LAB_E_INTERNAL", m.error?.message ?? "");
      setOut((o) => ({ ...o, text }));
    });
  };
  return (
    <div class="exec">
      <input
        name="command"
        value={command}
        onInput={(e) => setCommand((e.target as HTMLInputElement).value)}
        spellcheck={false}
      />
      <ActionButton
        label="Exec"
        action="exec"
        confirm={`Run \`${command}\` on ${name} as the agent's user?`}
        run={run}
      />
      {out.text || out.exit ? (
        <pre class="install-log" data-testid="exec-output">
          {out.text}
          {out.exit ? `\n[${out.exit}]` : ""}
        </pre>
      ) : null}
    </div>
  );
}

/** Recent audit events that name this server (from the live stream). */
function Events({ name }: { name: string }) {
  const live = useLive();
  const mine = live.recent
    .filter((e: AuditEvent) => e.subjects.includes(`server/${name}`))
    .slice(-15)
    .reverse();
  return (
    <Section title="Recent events" count={mine.length}>
      {mine.length === 0 ? (
        <div class="muted">none since the dashboard connected</div>
      ) : (
        <Tree
          items={mine.map((e) => (
            <span>
              <span class="muted">
                #{e.id} {ago(e.time)}
              </span>{" "}
              {e.action} — {e.summary}
            </span>
          ))}
        />
      )}
    </Section>
  );
}

/** `GET /api/v1/power/NAME`: what the controller answered when asked (never a guess). */
interface PowerRow {
  name: string;
  driver: string | null;
  state: "on" | "off" | "unknown" | "not configured" | "error";
  detail: string;
  nextBoot: "pxe" | "disk" | "none" | null;
  capabilities: { on: boolean; off: boolean; cycle: boolean; nextBoot: string[] } | null;
  observedAt: string | null;
  error: { code: string; message: string } | null;
}

/**
 * Power: the state the controller reports now, and on/off/cycle behind a confirmation. The
 * row is asked again whenever a power.* audit event names this server (Lab's own switches
 * and the poller's "changed outside Lab"), so the state shown is always an answer.
 */
function Power({ name, me }: { name: string; me: Principal | null }) {
  const p = useApi<PowerRow>(`/power/${encodeURIComponent(name)}`);
  const hub = useLive();
  const subject = `server/${name}`;
  let newest = 0;
  for (const e of hub.recent)
    if (e.action.startsWith("power.") && e.subjects.includes(subject)) newest = Math.max(newest, e.id);
  useEffect(() => {
    if (newest) p.reload();
  }, [newest]);
  const row = p.data;
  const act = (action: "on" | "off" | "cycle") => async () => {
    await api(`/power/${encodeURIComponent(name)}/${action}`, { method: "POST", body: {} });
    p.reload();
  };
  return (
    <Section title="Power">
      {p.error ? (
        <div class="error-text" data-testid="power-error">
          {p.error.code}: {p.error.message}
        </div>
      ) : !row ? (
        <Loading />
      ) : (
        <>
          <table class="simple" data-testid="power">
            <tbody>
              <tr>
                <td>state</td>
                <td data-testid="power-state" data-state={row.state}>
                  <b class={`power-${row.state.replace(" ", "-")}`}>{row.state}</b>
                  {row.error ? (
                    <span class="error-text">
                      {" "}
                      {row.error.code}: {row.error.message}
                    </span>
                  ) : null}
                </td>
              </tr>
              <tr>
                <td>driver</td>
                <td>{row.driver ?? "—"}</td>
              </tr>
              <tr>
                <td>detail</td>
                <td>{row.detail || "—"}</td>
              </tr>
              <tr>
                <td>next boot</td>
                <td>{row.nextBoot ?? "—"}</td>
              </tr>
              <tr>
                <td>asked</td>
                <td class="muted">{row.observedAt ? ago(row.observedAt) : "—"}</td>
              </tr>
            </tbody>
          </table>
          {row.driver === null ? (
            <div class="muted" data-testid="power-not-configured">
              not configured: add a power: section to this server (docs/power.md)
            </div>
          ) : canWrite(me) ? (
            <div class="actions" data-testid="power-actions">
              {(["on", "off", "cycle"] as const).map((a) => (
                <ActionButton
                  key={a}
                  label={`Power ${a}`}
                  action={`power-${a}`}
                  danger={a !== "on"}
                  confirm={
                    a === "on"
                      ? `Power on ${name} through ${row.driver}?`
                      : a === "off"
                        ? `Power off ${name} through ${row.driver}? Whatever runs on it stops at once.`
                        : `Power-cycle ${name} through ${row.driver}? It is switched off and on again.`
                  }
                  run={act(a)}
                />
              ))}
            </div>
          ) : null}
        </>
      )}
    </Section>
  );
}
