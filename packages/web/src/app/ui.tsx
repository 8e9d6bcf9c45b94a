/** Small pieces every page uses: pillars, provenance links, trees, the confirmation dialog. */

import type { PillarState as Pillar, Source } from "@lab/core";
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { ApiError } from "./api.js";
import { href } from "./router.js";

// The API's own shapes, from the engine that produces them (types only: nothing of core ships).
export type { PillarState as Pillar, Pillars, Source } from "@lab/core";
export const PILLARS = ["sync", "puppet", "health", "identity"] as const;

/** A pillar exactly as the API reports it: its text, coloured by its state, the reason on hover. */
export function PillarCell({ p, name }: { p: Pillar; name: string }) {
  return (
    <span class={`pillar s-${p.state}`} title={p.reason ? `${name}: ${p.reason}` : `${name}: ${p.state}`}>
      {p.text}
    </span>
  );
}

/** Where something came from, as a link to that thing. */
export function SourceLink({ s, bare }: { s: Source; bare?: boolean }) {
  const text = bare ? s.name : `${s.kind} ${s.name}`;
  switch (s.kind) {
    case "label":
      return <a href={href("labels", s.name)}>{text}</a>;
    case "group":
      return <a href={href("groups", s.name)}>{text}</a>;
    case "server":
      return <a href={href("servers", s.name)}>{text}</a>;
    case "environment":
      return <a href={`#/?q=${encodeURIComponent(`env:${s.name}`)}`}>{text}</a>;
    case "region":
      return <a href={`#/?q=${encodeURIComponent(`region:${s.name}`)}`}>{text}</a>;
    default:
      return <span>{s.reason ?? `auto-generated (${s.name})`}</span>;
  }
}

export function Sources({ from }: { from: Source[] }) {
  return (
    <span class="from">
      {from.map((s, i) => (
        <span key={`${s.kind}/${s.name}`}>
          {i > 0 ? ", " : ""}
          <SourceLink s={s} />
          {s.reason && s.kind !== "auto" ? <span class="muted"> ({s.reason})</span> : null}
        </span>
      ))}
    </span>
  );
}

/** A `├──`/`└──` tree of items, like `lab show`. */
export function Tree({ items }: { items: ComponentChildren[] }) {
  return (
    <ul class="tree">
      {items.map((item, i) => (
        <li key={i}>
          <span class="branch">{i === items.length - 1 ? "└── " : "├── "}</span>
          {item}
        </li>
      ))}
    </ul>
  );
}

export function Section({
  title,
  count,
  children,
}: {
  title: string;
  count?: number;
  children: ComponentChildren;
}) {
  return (
    <section class="card">
      <h2>
        {title}
        {count !== undefined ? <span class="count">{count}</span> : null}
      </h2>
      {children}
    </section>
  );
}

export function ErrorBox({ error }: { error: ApiError }) {
  return (
    <div class="error" role="alert">
      <b>{error.code}</b> {error.message}
      {error.hint ? <div class="muted">{error.hint}</div> : null}
    </div>
  );
}

export function Loading() {
  return <div class="muted loading">loading…</div>;
}

export const serverLink = (name: string) => <a href={href("servers", name)}>{name}</a>;

/**
 * A button that asks before it acts: the dialog names what will happen, and the action's
 * answer (or its error, with its code) is shown where the button was.
 */
export function ActionButton({
  label,
  action,
  confirm,
  run,
  danger,
}: {
  label: string;
  action: string;
  confirm: string;
  run: () => Promise<unknown>;
  danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const go = async () => {
    setBusy(true);
    try {
      await run();
      setOutcome({ ok: true, text: `${label}: done` });
    } catch (e) {
      const err = e as ApiError;
      setOutcome({ ok: false, text: `${err.code ?? "error"}: ${err.message}` });
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <span class="action">
      <button
        type="button"
        class={danger ? "danger" : ""}
        data-action={action}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
      {outcome ? (
        <span class={outcome.ok ? "ok-text" : "error-text"} data-outcome={action}>
          {outcome.text}
        </span>
      ) : null}
      {asking ? (
        <div class="modal-back">
          <div class="modal" role="dialog" aria-label={`confirm ${label}`}>
            <p>{confirm}</p>
            <div class="modal-buttons">
              <button type="button" onClick={() => setAsking(false)} disabled={busy}>
                Cancel
              </button>
              <button
                type="button"
                class={danger ? "danger" : "primary"}
                data-confirm={action}
                onClick={go}
                disabled={busy}
              >
                {busy ? "…" : label}
              </button>
            </div>
          </div>
        </div>
      ) : null}
    </span>
  );
}

export function ago(iso: string): string {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
