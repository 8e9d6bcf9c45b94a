/**
 * The TUI: a header of hotkeys, a breadcrumb, one windowed body (a list or a detail screen)
 * and a status line. Keys are handled here, in one place; what each screen shows comes from
 * screens.ts, and every frame is exactly `rows - 1` lines high so nothing below moves and
 * Ink never falls back to clearing the whole terminal (which is what flickers).
 */
import type { AuditEvent } from "@lab/core";
import { Box, useApp, useInput, useStdout } from "ink";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { HELP_EXTRA, HOTKEYS, type Hotkey } from "./keys.js";
import { type Cell, cell, fit, type Line } from "./lines.js";
import {
  breadcrumb,
  initialStack,
  type Location,
  palette,
  paletteMatches,
  pop,
  push,
  type Stack,
  top,
  updateTop,
} from "./nav.js";
import { LineText } from "./render-line.js";
import {
  type Column,
  type Detail,
  errorText,
  filterRows,
  keyedPart,
  LIST_SPECS,
  loadDetail,
} from "./screens.js";
import type { LinkState, MachineVerb, PowerVerb, TuiSource } from "./source.js";
import type { Theme } from "./theme.js";
import { useLoad } from "./use-load.js";
import { moveCursor, windowStart } from "./window.js";

export interface AppProps {
  source: TuiSource;
  theme: Theme;
  start?: Location;
  /** Fixed size (tests); otherwise the terminal's, following resizes. */
  size?: { columns: number; rows: number };
}

type Mode =
  | { kind: "normal" }
  | { kind: "filter"; draft: string }
  | { kind: "palette"; draft: string }
  | { kind: "help" }
  | { kind: "confirm"; question: string; run: () => Promise<void> }
  | { kind: "prompt"; label: string; draft: string; submit: (value: string) => void };

interface Message {
  text: string;
  tone?: "ok" | "bad" | "warn";
}

const HEADER_ROWS = 4; // title, two hotkey rows, breadcrumb
const FOOTER_ROWS = 1;

export function App({ source, theme, start, size }: AppProps) {
  const { exit } = useApp();
  const dims = useSize(size);
  // Keys can arrive faster than frames: the handler reads and writes these refs, so a burst
  // of keystrokes acts on the state the previous key left, not on the last frame's.
  const [stack, setStackState] = useState<Stack>(() => initialStack(start));
  const [mode, setModeState] = useState<Mode>({ kind: "normal" });
  const stackRef = useRef(stack);
  const modeRef = useRef(mode);
  const setStack = (next: Stack | ((s: Stack) => Stack)) => {
    stackRef.current = typeof next === "function" ? next(stackRef.current) : next;
    setStackState(stackRef.current);
  };
  const setMode = (next: Mode) => {
    modeRef.current = next;
    setModeState(next);
  };
  const [message, setMessage] = useState<Message | null>(null);
  const [output, setOutput] = useState<{ title: string; lines: string[] } | null>(null);
  const [revision, setRevision] = useState(0);
  const [link, setLink] = useState<LinkState>("connecting");
  const [lastEvent, setLastEvent] = useState<AuditEvent | null>(null);

  useEffect(
    () =>
      source.feed.subscribe((e) => {
        if (e) setLastEvent(e);
        setRevision((r) => r + 1);
      }, setLink),
    [source],
  );

  const entry = top(stack);
  const loc = entry.loc;
  const bodyRows = Math.max(3, dims.rows - 1 - HEADER_ROWS - FOOTER_ROWS);

  // ---- data for the screen on top ----
  const listName = "list" in loc ? loc.list : null;
  const spec = listName ? LIST_SPECS[listName] : null;
  const node = "list" in loc ? loc.node : undefined;
  const loadKey =
    "list" in loc ? `list:${loc.list}:${node ?? ""}:${keyedPart(entry.query)}` : `${loc.detail}:${loc.name}`;
  const loader = useCallback(
    () =>
      "list" in loc
        ? (LIST_SPECS[loc.list].load(source, entry.query, loc.node) as Promise<unknown>)
        : (loadDetail(source, loc.detail, loc.name) as Promise<unknown>),
    [source, loc, entry.query],
  );
  const detailPoll = useRef<number | undefined>(undefined);
  const loaded = useLoad(loadKey, loader, revision, "list" in loc ? listPoll(loc.list) : detailPoll.current);
  const detail = !spec ? (loaded.data as Detail | undefined) : undefined;
  detailPoll.current = detail?.pollMs;

  // The filter as typed so far: free words narrow the list at once; keys apply on Enter.
  const liveQuery = mode.kind === "filter" ? mode.draft : entry.query;
  const allRows = spec ? ((loaded.data as unknown[] | undefined) ?? []) : [];
  const rows = useMemo(() => (spec ? filterRows(spec, allRows, liveQuery) : []), [spec, allRows, liveQuery]);

  const columns = useMemo(() => (spec ? layout(spec.columns, dims.columns) : []), [spec, dims.columns]);
  const detailLines: Line[] = detail?.lines ?? [];
  const summaryLines: Line[] = detail?.summary ?? [];
  const listRows = bodyRows - 1; // one for the column header / summary rule
  const detailRows = Math.max(1, bodyRows - summaryLines.length - 1);
  const visibleRows = spec ? listRows : detailRows;
  const total = spec ? rows.length : detailLines.length;
  const cursor = spec
    ? Math.min(entry.cursor, Math.max(0, total - 1))
    : detailCursor(detailLines, entry.cursor);

  const starts = useRef(new Map<number, number>());
  const depth = stack.length;
  const startRow = windowStart(cursor, visibleRows, total, starts.current.get(depth) ?? 0);
  starts.current.set(depth, startRow);

  const target = spec
    ? rows[cursor] !== undefined
      ? spec.target?.(rows[cursor])
      : undefined
    : detail?.target;

  const go = (l: Location) => {
    starts.current.delete(depth + 1);
    setStack((s) => push(s, l));
    setOutput(null);
  };
  const setCursor = (c: number) => setStack((s) => updateTop(s, { cursor: c }));
  const refresh = () => setRevision((r) => r + 1);
  const fail = (e: unknown) => setMessage({ text: errorText(e), tone: "bad" });

  // What the handler acts on is the latest render's, read through a ref: Ink re-subscribes
  // the handler in an effect, and a key can arrive before that effect has run.
  const view = useRef({ spec, rows, total, detailLines, visibleRows, target, output });
  view.current = { spec, rows, total, detailLines, visibleRows, target, output };

  const machineAction = (verb: MachineVerb) => {
    const m = view.current.target?.machine;
    if (!m) return setMessage({ text: `nothing to ${verb} here: select a server or machine`, tone: "warn" });
    const what = {
      install: `Install ${m} at its next network boot`,
      reprovision: `Reprovision ${m} (reinstall, keeping preserved volumes)`,
      debug: `Boot ${m} into the rescue system once`,
    }[verb];
    setMode({
      kind: "confirm",
      question: `${what}? [y/N]`,
      run: async () => {
        const r = await source.machineAction(verb, m);
        setMessage({
          text: `${r.name ?? r.mac}: ${r.state}${r.debug ? " (debug next boot)" : ""}`,
          tone: "ok",
        });
        refresh();
      },
    });
  };

  const powerAction = () => {
    const server = view.current.target?.server;
    if (!server) return setMessage({ text: "nothing to power here: select a server", tone: "warn" });
    setMode({
      kind: "prompt",
      label: `power ${server} (on, off, cycle): `,
      draft: "",
      submit: (word) => {
        const verb = word.trim().toLowerCase();
        if (!verb) return setMode({ kind: "normal" });
        if (verb !== "on" && verb !== "off" && verb !== "cycle") {
          return setMessage({ text: `power ${verb}? the choices are on, off and cycle`, tone: "warn" });
        }
        setMode({
          kind: "confirm",
          question: `Power ${verb} ${server}? [y/N]`,
          run: async () => {
            const r = await source.powerAction(server, verb as PowerVerb);
            setMessage({
              text: `${server}: power ${r.state}${r.detail ? ` — ${r.detail}` : ""}`,
              tone: "ok",
            });
            refresh();
          },
        });
      },
    });
  };

  const execAction = () => {
    const server = view.current.target?.server;
    if (!server) return setMessage({ text: "nothing to exec on here: select a server", tone: "warn" });
    setMode({
      kind: "prompt",
      label: `exec on ${server}: `,
      draft: "",
      submit: (command) => {
        if (!command.trim()) return setMode({ kind: "normal" });
        setMode({
          kind: "confirm",
          question: `Run \`${command}\` on ${server}? [y/N]`,
          run: async () => {
            setMessage({ text: `running on ${server}…` });
            const r = await source.exec(server, command);
            setOutput({ title: `${server}$ ${command}  (exit ${r.code})`, lines: r.output.split("\n") });
            setMessage({ text: `exit ${r.code}`, tone: r.code === 0 ? "ok" : "bad" });
          },
        });
      },
    });
  };

  const applyAction = () =>
    setMode({
      kind: "prompt",
      label: "apply file or directory: ",
      draft: "",
      submit: (path) => {
        if (!path.trim()) return setMode({ kind: "normal" });
        setMode({
          kind: "confirm",
          question: `Apply ${path.trim()}? [y/N]`,
          run: async () => {
            const r = await source.apply(path.trim());
            const n = (op: string) => r.changes.filter((c) => c.op === op).length;
            setMessage({
              text:
                r.changes.length === 0
                  ? `No changes (${r.unchanged} unchanged)`
                  : `Applied: ${n("create")} created, ${n("update")} configured, ${n("delete")} deleted (event #${r.eventId})`,
              tone: "ok",
            });
            refresh();
          },
        });
      },
    });

  // A terminal may deliver several keys in one read (typed fast, pasted, or sent by tmux):
  // Ink hands those over as one string, so they are taken apart here, one key at a time.
  useInput((input, key) => {
    // Esc pressed twice in one read arrives as one escape carrying the other.
    if (key.escape && input === "\u001b") {
      handleKey("", key);
      return handleKey("", key);
    }
    if (input.length > 1 && !input.includes("\u001b")) {
      for (const ch of input) {
        const k = keyOf(ch);
        handleKey(
          k.ctrl ? String.fromCharCode(ch.charCodeAt(0) + 96) : k.return || k.tab || k.backspace ? "" : ch,
          k,
        );
      }
    } else handleKey(input, key);
  });

  function handleKey(input: string, key: InkKey) {
    const mode = modeRef.current;
    const entry = top(stackRef.current);
    const { spec, rows, total, detailLines, visibleRows, target, output } = view.current;
    const cursor = spec
      ? Math.min(entry.cursor, Math.max(0, total - 1))
      : detailCursor(detailLines, entry.cursor);
    if (mode.kind === "help") return setMode({ kind: "normal" });
    if (mode.kind === "confirm") {
      setMode({ kind: "normal" });
      if (input === "y" || input === "Y") {
        mode.run().catch(fail);
      } else setMessage({ text: "cancelled: nothing was sent" });
      return;
    }
    if (mode.kind === "filter" || mode.kind === "palette" || mode.kind === "prompt") {
      if (key.escape) return setMode({ kind: "normal" });
      if (key.return) {
        if (mode.kind === "filter") {
          setStack((s) => updateTop(s, { query: mode.draft.trim(), cursor: 0 }));
          setMode({ kind: "normal" });
        } else if (mode.kind === "palette") {
          const r = palette(mode.draft);
          setMode({ kind: "normal" });
          if (r.quit) exit();
          else if (r.error) setMessage({ text: r.error, tone: "warn" });
          else if (r.loc) {
            setOutput(null);
            starts.current.clear();
            setStack((s) =>
              "list" in (r.loc as Location) ? initialStack(r.loc) : push(s, r.loc as Location),
            );
          }
        } else {
          setMode({ kind: "normal" });
          mode.submit(mode.draft);
        }
        return;
      }
      if (key.tab && mode.kind === "palette") {
        const [first] = paletteMatches(mode.draft);
        if (first) setMode({ ...mode, draft: first.slice(1) });
        return;
      }
      if (key.backspace || key.delete) return setMode({ ...mode, draft: mode.draft.slice(0, -1) });
      if (input && !key.ctrl && !key.meta) setMode({ ...mode, draft: mode.draft + input });
      return;
    }

    // ---- normal mode ----
    setMessage(null);
    if (key.ctrl && input === "r") return refresh();
    if (key.ctrl && input === "f") return setCursor(step(cursor, visibleRows));
    if (key.ctrl && input === "b") return setCursor(step(cursor, -visibleRows));
    if (key.downArrow || input === "j") return setCursor(step(cursor, 1));
    if (key.upArrow || input === "k") return setCursor(step(cursor, -1));
    if (key.pageDown) return setCursor(step(cursor, visibleRows));
    if (key.pageUp) return setCursor(step(cursor, -visibleRows));
    if (input === "g") return setCursor(step(-1, 1));
    if (input === "G") return setCursor(step(total, -1));
    if (key.tab) return spec ? undefined : setCursor(nextPane(detailLines, cursor));
    if (key.return) {
      if (output) return;
      const l = spec
        ? rows[cursor] !== undefined
          ? spec.open(rows[cursor])
          : null
        : detailLines[cursor]?.link;
      if (l) go(l);
      return;
    }
    if (key.escape) {
      if (output) return setOutput(null);
      if (spec && entry.query) return setStack((s) => updateTop(s, { query: "", cursor: 0 }));
      return setStack(pop);
    }
    if (input === "/") return spec && setMode({ kind: "filter", draft: entry.query });
    if (input === ":") return setMode({ kind: "palette", draft: "" });
    if (input === "?") return setMode({ kind: "help" });
    if (input === "q") return exit();
    if (input === "i") return machineAction("install");
    if (input === "r") return machineAction("reprovision");
    if (input === "d") return machineAction("debug");
    if (input === "x") return execAction();
    if (input === "p") return powerAction();
    if (input === "a") return applyAction();
    if (input === "l") {
      const server = target?.server;
      return server ? go({ list: "logs", node: server }) : go({ list: "logs" });
    }
  }

  // The cursor moves over selectable lines only (lists: every row; details: links).
  function step(from: number, delta: number): number {
    const v = view.current;
    if (v.spec) return moveCursor(from, delta, v.total);
    return detailStep(v.detailLines, from, delta);
  }

  // ---- frame ----
  const width = dims.columns;
  const scope = new Set<Hotkey["scope"]>(["global", "nav"]);
  if (target?.server) scope.add("server");
  if (target?.machine) scope.add("machine");
  const count = spec ? `${rows.length}${rows.length !== allRows.length ? `/${allRows.length}` : ""}` : "";
  const body: { line: Line; selected: boolean }[] = [];

  if (mode.kind === "help") {
    body.push({ line: { cells: [cell("Keys", "title", true)] }, selected: false });
    for (const h of HOTKEYS)
      body.push({ line: { cells: [cell(`  ${h.key.padEnd(8)}`, "key"), cell(h.what)] }, selected: false });
    for (const t of HELP_EXTRA) body.push({ line: { cells: [cell(t, "muted")] }, selected: false });
  } else if (output) {
    body.push({ line: { cells: [cell(output.title, "title", true)] }, selected: false });
    for (const l of output.lines.slice(-(bodyRows - 1)))
      body.push({ line: { cells: [cell(l)] }, selected: false });
  } else if (loaded.error && loaded.data === undefined) {
    body.push({ line: { cells: [cell(errorText(loaded.error), "bad")] }, selected: false });
  } else if (loaded.data === undefined) {
    body.push({ line: { cells: [cell("loading…", "muted")] }, selected: false });
  } else if (spec) {
    body.push({
      line: { cells: columns.map((c) => cell(`${fit(c.header, c.fit)} `, "muted", true)) },
      selected: false,
    });
    if (rows.length === 0)
      body.push({
        line: {
          cells: [cell(entry.query || liveQuery ? "Nothing matches the filter." : spec.empty, "muted")],
        },
        selected: false,
      });
    for (let i = startRow; i < Math.min(rows.length, startRow + listRows); i++) {
      const r = rows[i];
      body.push({
        line: {
          cells: columns.map((c) => {
            const v = c.cell(r);
            return { ...v, text: `${fit(v.text, c.fit)} ` };
          }),
        },
        selected: i === cursor,
      });
    }
  } else if (detail) {
    for (const l of summaryLines) body.push({ line: l, selected: false });
    body.push({ line: { cells: [cell("─".repeat(width), "muted")] }, selected: false });
    for (let i = startRow; i < Math.min(detailLines.length, startRow + detailRows); i++) {
      body.push({ line: detailLines[i] as Line, selected: i === cursor });
    }
  }
  while (body.length < bodyRows) body.push({ line: { cells: [] }, selected: false });
  body.length = bodyRows;

  const linkCell: Cell =
    link === "live"
      ? cell("● live", "ok")
      : link === "polling"
        ? cell("● watching", "ok")
        : link === "reconnecting"
          ? cell("○ reconnecting", "warn")
          : cell(`○ ${link}`, "muted");
  const titleCells: Cell[] = [
    cell(" lab tui ", "title", true),
    cell(`│ ${source.mode} ${source.where} │ `, "muted"),
    linkCell,
    ...(lastEvent ? [cell(` │ last: ${lastEvent.summary}`, "muted")] : []),
  ];
  const keysShown = HOTKEYS.filter((h) => scope.has(h.scope));
  const [keys1, keys2] = hotkeyRows(keysShown, width);
  const crumb = breadcrumb(stack, Math.max(10, width - 30));
  const filterText = liveQuery ? ` /${liveQuery}` : "";

  return (
    <Box flexDirection="column" width={width}>
      <LineText cells={titleCells} width={width} theme={theme} />
      <LineText cells={keys1 ?? []} width={width} theme={theme} />
      <LineText cells={keys2 ?? []} width={width} theme={theme} />
      <LineText
        cells={[
          cell(crumb, "accent", true),
          ...(count ? [cell(` [${count}]`, "muted")] : []),
          cell(filterText, "warn"),
          ...(loaded.loading && loaded.data !== undefined ? [cell(" ⟳", "muted")] : []),
        ]}
        width={width}
        theme={theme}
      />
      {body.map((b, i) => (
        <LineText key={i} cells={b.line.cells} width={width} theme={theme} selected={b.selected} />
      ))}
      <LineText
        cells={footer(mode, message, loaded.error, loaded.data !== undefined)}
        width={width}
        theme={theme}
      />
    </Box>
  );
}

type InkKey = Parameters<Parameters<typeof useInput>[0]>[1];

/** The key one character of a multi-key read stands for. */
function keyOf(ch: string): InkKey {
  const code = ch.charCodeAt(0);
  const key = {
    upArrow: false,
    downArrow: false,
    leftArrow: false,
    rightArrow: false,
    pageDown: false,
    pageUp: false,
    home: false,
    end: false,
    return: ch === "\r" || ch === "\n",
    escape: false,
    ctrl: code < 32 && ch !== "\r" && ch !== "\n" && ch !== "\t",
    shift: /[A-Z]/.test(ch),
    tab: ch === "\t",
    backspace: ch === "\b" || ch === "\u007f",
    delete: false,
    meta: false,
  };
  return key as InkKey;
}

function footer(mode: Mode, message: Message | null, error: unknown, haveData: boolean): Cell[] {
  switch (mode.kind) {
    case "filter":
      return [cell("/", "key", true), cell(`${mode.draft}█`), cell("  enter applies · esc cancels", "muted")];
    case "palette": {
      const m = paletteMatches(mode.draft);
      return [cell(":", "key", true), cell(`${mode.draft}█`), cell(`  ${m.join(" ")}`, "muted")];
    }
    case "prompt":
      return [cell(mode.label, "key", true), cell(`${mode.draft}█`), cell("  enter · esc cancels", "muted")];
    case "confirm":
      return [cell(mode.question, "warn", true)];
    case "help":
      return [cell("any key closes help", "muted")];
    default:
      if (message) return [cell(message.text, message.tone)];
      // A failed refresh over data already shown: say so, keep the data.
      if (error && haveData) return [cell(`refresh failed: ${errorText(error)}`, "bad")];
      return [cell("? help · : views · / filter · q quit", "muted")];
  }
}

/** Fits hotkeys into two header rows, `<key> what` each, as many as the width allows. */
function hotkeyRows(keys: Hotkey[], width: number): Cell[][] {
  const out: Cell[][] = [[], []];
  let row = 0;
  let used = 0;
  for (const h of keys) {
    const text = `<${h.key}> ${h.what}`;
    const w = text.length + 2;
    if (used + w > width) {
      row++;
      used = 0;
      if (row > 1) break;
    }
    (out[row] as Cell[]).push(cell(`<${h.key}>`, "key", true), cell(` ${h.what}  `));
    used += w;
  }
  return out;
}

interface Laid<R> extends Column<R> {
  fit: number;
}

/** Column widths for the screen: narrow screens drop optional columns; the 0-width one takes the rest. */
function layout<R>(columns: Column<R>[], width: number): Laid<R>[] {
  const shown = columns.filter((c) => !c.minScreen || width >= c.minScreen);
  const fixed = shown.reduce((n, c) => n + (c.width ? c.width + 1 : 0), 0);
  const flex = Math.max(4, width - fixed - 1);
  return shown.map((c) => ({ ...c, fit: c.width || flex }));
}

function listPoll(list: string): number | undefined {
  // Machines move through an install on their own; logs arrive without audit events.
  if (list === "machines") return 2000;
  if (list === "logs") return 1000;
  return undefined;
}

function detailCursor(lines: Line[], cursor: number): number {
  if (lines[cursor]?.link) return cursor;
  const next = lines.findIndex((l, i) => i >= cursor && l.link);
  if (next >= 0) return next;
  return lines.findIndex((l) => l.link);
}

function detailStep(lines: Line[], from: number, delta: number): number {
  const dir = delta >= 0 ? 1 : -1;
  let remaining = Math.abs(delta);
  let at = from;
  let best = from;
  while (remaining > 0) {
    at += dir;
    if (at < 0 || at >= lines.length) break;
    if (lines[at]?.link) {
      best = at;
      remaining--;
    }
  }
  return best < 0 ? detailCursor(lines, 0) : best;
}

function nextPane(lines: Line[], from: number): number {
  for (let i = Math.max(0, from) + 1; i < lines.length; i++) {
    if (lines[i]?.heading) {
      const first = lines.findIndex((l, j) => j > i && l.link);
      const nextHeading = lines.findIndex((l, j) => j > i && l.heading);
      if (first >= 0 && (nextHeading < 0 || first < nextHeading)) return first;
    }
  }
  return detailCursor(lines, 0);
}

/** The terminal's size, following resizes (or a fixed one). */
function useSize(fixed?: { columns: number; rows: number }) {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(fixed ?? read());
  useEffect(() => {
    if (fixed) return;
    const on = () => setSize(read());
    stdout.on("resize", on);
    return () => {
      stdout.off("resize", on);
    };
  });
  return fixed ?? size;
}
