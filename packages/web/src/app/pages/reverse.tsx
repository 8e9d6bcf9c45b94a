/**
 * The reverse views: where each label, group, alert and secret applies, cross-linked both
 * ways with the server pages (server → label → its other servers → …).
 */

import type {
  AlertCurrent,
  AlertRow,
  ServerRef as CoreServerRef,
  ExcludedServer,
  GroupRow,
  LabelRow,
  SecretRow,
} from "@lab/core";
import type { ComponentChildren } from "preact";
import { useApi } from "../data.js";
import { href } from "../router.js";
import { ErrorBox, Loading, Section, SourceLink, Sources, serverLink, Tree } from "../ui.js";

type ServerRef = CoreServerRef & { current?: AlertCurrent };
type Excluded = ExcludedServer;
type Selector = Record<string, string[] | undefined> | null;

const list = (xs: ComponentChildren[], empty = "none") =>
  xs.length ? <Tree items={xs} /> : <div class="muted">{empty}</div>;
const join = (xs: ComponentChildren[]) =>
  xs.length ? xs.map((x, i) => (i ? [", ", x] : x)) : <span class="muted">none</span>;

function Servers({ servers }: { servers: ServerRef[] }) {
  return (
    <Section title="Servers" count={servers.length}>
      {list(
        servers.map((s) => (
          <span data-member={s.name}>
            {serverLink(s.name)}{" "}
            <span class="muted">
              ({s.provider}, {s.environment ?? "—"}) ←{" "}
            </span>
            <Sources from={s.from} />
            {s.current ? (
              <span class={`s-${s.current.state === "ok" ? "ok" : "failed"}`}>
                {" "}
                currently {s.current.state}
                {s.current.value !== undefined ? ` ${s.current.value}` : ""}
              </span>
            ) : null}
          </span>
        )),
        "applies to no server",
      )}
    </Section>
  );
}

function ExcludedList({ excluded }: { excluded: Excluded[] }) {
  return (
    <Section title="Excluded" count={excluded.length}>
      {list(
        excluded.map((x) => (
          <span>
            {serverLink(x.name)} <span class="muted">by </span>
            <SourceLink s={x.by} />
            {x.by.reason ? <span class="muted"> ({x.by.reason})</span> : null}
          </span>
        )),
        "nothing excluded",
      )}
    </Section>
  );
}

function selectorText(s: Selector): string {
  if (!s) return "—";
  const parts = Object.entries(s)
    .filter(([, v]) => v?.length)
    .map(([k, v]) => `${k}: ${(v as string[]).join(", ")}`);
  return parts.length ? parts.join("; ") : "—";
}

function Page<T>({ path, render }: { path: string; render: (t: T) => ComponentChildren }) {
  const d = useApi<T>(path);
  if (d.error) return <ErrorBox error={d.error} />;
  if (!d.data) return <Loading />;
  return <div class="page">{render(d.data)}</div>;
}

/** A list page: a table whose first column links to the detail page. */
function ListPage<T extends { name: string }>({
  title,
  path,
  kind,
  columns,
}: {
  title: string;
  path: string;
  kind: string;
  columns: [string, (row: T) => ComponentChildren][];
}) {
  return (
    <Page<T[]>
      path={path}
      render={(rows) => (
        <>
          <h1>
            {title} <span class="count">{rows.length}</span>
          </h1>
          <table class="simple list" data-testid={`${kind}-list`}>
            <thead>
              <tr>
                <th>NAME</th>
                {columns.map(([h]) => (
                  <th key={h}>{h}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name}>
                  <td>
                    <a href={href(kind, r.name)}>{r.name}</a>
                  </td>
                  {columns.map(([h, f]) => (
                    <td key={h}>{f(r)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    />
  );
}

const links = (kind: string, names: string[]) => join(names.map((n) => <a href={href(kind, n)}>{n}</a>));

export const LabelsPage = () => (
  <ListPage<LabelRow>
    title="Labels"
    path="/labels"
    kind="labels"
    columns={[
      ["SERVERS", (r) => r.servers],
      ["CLASSES", (r) => r.classes.join(", ") || "—"],
      ["ALERTS", (r) => links("alerts", r.alerts)],
      ["SECRETS", (r) => links("secrets", r.secrets)],
      ["PORTS", (r) => r.ports.join(", ") || "—"],
      ["SIZE", (r) => r.size ?? "—"],
    ]}
  />
);

export function LabelPage({ name }: { name: string }) {
  return (
    <Page<{
      name: string;
      description: string | null;
      servers: ServerRef[];
      provides: {
        classes: string[];
        alerts: string[];
        secrets: string[];
        ports: number[];
        size: string | null;
      };
    }>
      path={`/labels/${encodeURIComponent(name)}`}
      render={(l) => (
        <>
          <header class="title">
            <h1>Label {l.name}</h1>
            <span class="muted">{l.description ?? ""}</span>
          </header>
          <div class="columns">
            <Servers servers={l.servers} />
            <Section title="Provides">
              <table class="simple">
                <tbody>
                  <tr>
                    <td>Puppet classes</td>
                    <td>{l.provides.classes.join(", ") || "none"}</td>
                  </tr>
                  <tr>
                    <td>Alerts</td>
                    <td>{links("alerts", l.provides.alerts)}</td>
                  </tr>
                  <tr>
                    <td>Secrets</td>
                    <td>{links("secrets", l.provides.secrets)}</td>
                  </tr>
                  <tr>
                    <td>Ports</td>
                    <td>{l.provides.ports.join(", ") || "none"}</td>
                  </tr>
                  <tr>
                    <td>Size</td>
                    <td>{l.provides.size ?? "—"}</td>
                  </tr>
                </tbody>
              </table>
            </Section>
          </div>
        </>
      )}
    />
  );
}

export const GroupsPage = () => (
  <ListPage<GroupRow>
    title="Groups"
    path="/groups"
    kind="groups"
    columns={[
      ["SERVERS", (r) => r.servers],
      ["EXCLUDED", (r) => r.excluded],
      ["SUBGROUPS", (r) => links("groups", r.subgroups)],
      ["MATCH", (r) => selectorText(r.match)],
    ]}
  />
);

export function GroupPage({ name }: { name: string }) {
  return (
    <Page<{
      name: string;
      description: string | null;
      match: Selector;
      explicit: string[];
      exclude: Selector;
      subgroups: { name: string; servers: number }[];
      servers: ServerRef[];
      excluded: Excluded[];
      alerts: { name: string; severity: string }[];
    }>
      path={`/groups/${encodeURIComponent(name)}`}
      render={(g) => (
        <>
          <header class="title">
            <h1>Group {g.name}</h1>
            <span class="muted">
              match {selectorText(g.match)} · exclude {selectorText(g.exclude)}
              {g.explicit.length ? ` · servers ${g.explicit.join(", ")}` : ""}
            </span>
          </header>
          <div class="columns">
            <div>
              <Servers servers={g.servers} />
              <ExcludedList excluded={g.excluded} />
            </div>
            <div>
              <Section title="Subgroups" count={g.subgroups.length}>
                {list(
                  g.subgroups.map((s) => (
                    <span>
                      <a href={href("groups", s.name)}>{s.name}</a>{" "}
                      <span class="muted">({s.servers} servers)</span>
                    </span>
                  )),
                )}
              </Section>
              <Section title="Alerts targeting this group" count={g.alerts.length}>
                {list(
                  g.alerts.map((a) => (
                    <span>
                      <a href={href("alerts", a.name)}>{a.name}</a>{" "}
                      <span class={`sev sev-${a.severity}`}>{a.severity}</span>
                    </span>
                  )),
                )}
              </Section>
            </div>
          </div>
        </>
      )}
    />
  );
}

export const AlertsPage = () => (
  <ListPage<AlertRow>
    title="Alerts"
    path="/alerts"
    kind="alerts"
    columns={[
      ["SEVERITY", (r) => <span class={`sev sev-${r.severity}`}>{r.severity}</span>],
      ["KIND", (r) => r.kind],
      ["CONDITION", (r) => r.condition ?? "—"],
      ["BACKEND", (r) => r.backend ?? "—"],
      ["TARGET", (r) => r.target],
      ["SERVERS", (r) => r.servers],
      ["EXCLUDED", (r) => r.excluded],
    ]}
  />
);

export function AlertPage({ name }: { name: string }) {
  return (
    <Page<{
      name: string;
      kind: string;
      severity: string;
      condition: string | null;
      backend: string | null;
      for: string | null;
      target: Selector;
      exclude: Selector;
      servers: ServerRef[];
      excluded: Excluded[];
      renderedTo: { backend: string; path: string; servers: number }[];
      lastRendered: { backend: string; summary: string; time: string }[];
    }>
      path={`/alerts/${encodeURIComponent(name)}`}
      render={(a) => (
        <>
          <header class="title">
            <h1>Alert {a.name}</h1>
            <span class="muted">
              <span class={`sev sev-${a.severity}`}>{a.severity}</span> · {a.kind} · condition{" "}
              {a.condition ?? "—"}
              {a.for ? ` for ${a.for}` : ""} · target {selectorText(a.target)} · exclude{" "}
              {selectorText(a.exclude)}
            </span>
          </header>
          <div class="columns">
            <div>
              <Servers servers={a.servers} />
              <ExcludedList excluded={a.excluded} />
            </div>
            <Section title="Rendered to" count={a.renderedTo.length}>
              {list(
                a.renderedTo.map((r) => (
                  <span>
                    {r.backend}: {r.path} <span class="muted">({r.servers} servers)</span>
                  </span>
                )),
                "not rendered by any backend",
              )}
              {a.lastRendered.length ? (
                <div class="muted">
                  last render: {a.lastRendered.map((l) => `${l.backend} ${l.summary}`).join("; ")}
                </div>
              ) : (
                <div class="muted">never rendered with `lab render`</div>
              )}
            </Section>
          </div>
        </>
      )}
    />
  );
}

export const SecretsPage = () => (
  <ListPage<SecretRow>
    title="Secrets"
    path="/secrets"
    kind="secrets"
    columns={[
      ["TYPE", (r) => r.type ?? "—"],
      ["LABELS", (r) => links("labels", r.labels)],
      ["SERVERS", (r) => r.servers],
      ["ROTATE", (r) => r.rotateEvery ?? "—"],
      ["SET BY", (r) => r.setBy ?? "—"],
    ]}
  />
);

export function SecretPage({ name }: { name: string }) {
  return (
    <Page<{
      name: string;
      type: string | null;
      generator: string | null;
      rotateEvery: string | null;
      perMachine: boolean;
      setBy: string | null;
      defined: boolean;
      labels: string[];
      servers: ServerRef[];
      excluded: Excluded[];
    }>
      path={`/secrets/${encodeURIComponent(name)}`}
      render={(s) => (
        <>
          <header class="title">
            <h1>Secret {s.name}</h1>
            <span class="muted">
              {s.type ?? "—"}
              {s.generator ? ` (${s.generator})` : ""} · rotate {s.rotateEvery ?? "—"} · per machine{" "}
              {s.perMachine ? "yes" : "no"} · set by {s.setBy ?? "—"} · labels {s.labels.join(", ") || "none"}
            </span>
          </header>
          <div class="columns">
            <Servers servers={s.servers} />
            <ExcludedList excluded={s.excluded} />
          </div>
        </>
      )}
    />
  );
}
