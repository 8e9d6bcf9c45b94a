import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tuiSource } from "../../cli/src/commands/tui.js";
import { openLocal, readSources, type Session } from "../../cli/src/context.js";
import type { TuiSource } from "./source.js";
import { themeFrom } from "./theme.js";

// A real engine over a real SQLite file holding the demo's homelab: no fakes.
let home: string;
let session: Session;
let source: TuiSource;
let closeSource: () => Promise<void>;
const env = () => ({ LAB_HOME: home, LAB_ACTOR: "tester" });

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "lab-tui-"));
  session = await openLocal(env());
  await session.engine.apply({
    files: readSources([join(import.meta.dirname, "../../../examples/homelab")], () => ""),
  });
  const s = await tuiSource(session, env());
  source = s.source;
  closeSource = s.close;
});

afterAll(async () => {
  await closeSource?.();
  await session?.close();
  rmSync(home, { recursive: true, force: true });
});

const theme = themeFrom({ NO_COLOR: "1" });
// The test stream is not a terminal: Ink's chalk is told to emit styles as it would on one
// (before Ink loads), so the frames show exactly which escapes a theme produces.
process.env.FORCE_COLOR = "1";
const { render } = await import("ink-testing-library");
const { App } = await import("./app.js");
const tick = () => new Promise((r) => setTimeout(r, 20));

/** Waits until the frame holds `text` (a render is asynchronous; this is not a timing assertion). */
async function frameWith(app: ReturnType<typeof render>, text: string, limit = 5000): Promise<string> {
  const deadline = Date.now() + limit;
  for (;;) {
    const f = plain(app.lastFrame() ?? "");
    if (f.includes(text)) return f;
    if (Date.now() > deadline) throw new Error(`the frame never showed "${text}":\n${f}`);
    await tick();
  }
}

const ENTER = "\r";
const ESC = "\u001b";

async function press(app: ReturnType<typeof render>, ...keys: string[]) {
  for (const k of keys) {
    app.stdin.write(k);
    await tick();
  }
}

const mount = (size = { columns: 80, rows: 24 }, t = theme) =>
  render(<App source={source} theme={t} size={size} />);

const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const plain = (s: string) => s.replace(SGR, "");
/** The line holding the inverse-video cursor. */
const selected = (app: ReturnType<typeof render>) =>
  plain((app.lastFrame() ?? "").split("\n").find((l) => l.includes("\u001b[7m")) ?? "");

describe("lab tui (components, on a real local engine)", () => {
  it("lists the fleet at 80×24: hotkeys in the header, every line within 80 columns, 23 rows", async () => {
    const app = mount();
    const f = await frameWith(app, "beelink-ser9-max");
    expect(f).toContain("<enter> open");
    expect(f).toContain("<:> views");
    expect(f).toContain("Servers [17]");
    // Nothing observed: every pillar is "—", never a ✓.
    expect(f).not.toContain("✓");
    const lines = f.split("\n");
    expect(lines).toHaveLength(23);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    app.unmount();
  });

  it("drills server → label → another server, and Esc walks the breadcrumb back", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    await press(app, "/", ..."worker-5", ENTER);
    await frameWith(app, "[1/17]");
    await press(app, ENTER);
    let f = await frameWith(app, "Labels (");
    expect(f).toContain("Servers > worker-5");
    expect(selected(app)).toContain("k8s-worker");
    await press(app, ENTER);
    f = await frameWith(app, "Puppet classes (");
    expect(f).toContain("label k8s-worker");
    expect(f).toContain("worker-6");
    // The label's servers link back to servers.
    await press(app, "j", ENTER);
    f = await frameWith(app, "label k8s-worker > ");
    await frameWith(app, "Labels (");
    await press(app, ESC);
    f = await frameWith(app, "Servers > worker-5 > label k8s-worker");
    await press(app, ESC, ESC);
    f = await frameWith(app, "Servers [1/17]");
    // Esc on a filtered list clears the filter.
    await press(app, ESC);
    await frameWith(app, "Servers [17]");
    app.unmount();
  });

  it("filters with the targeting language through the engine (keys on Enter, words as typed)", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    await press(app, "/", ..."label:k8s-worker env:prod -worker-6", ENTER);
    await frameWith(app, "/label:k8s-worker env:prod -worker-6");
    const f = await frameWith(app, "batch-worker-1");
    expect(f).toContain("worker-5");
    expect(f).not.toContain("worker-6 ");
    expect(f).not.toContain("worker-3 "); // staging
    expect(f).not.toContain("api-1");
    const engineSaid = await source.engine.list("server", {
      filter: { labels: ["k8s-worker"], environments: ["prod"], exclude: ["worker-6"] },
    });
    expect(f).toContain(`Servers [${engineSaid.length}]`);
    app.unmount();
  });

  it("opens views from the : palette and refuses unknown ones with what to type", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    await press(app, ":", ..."groups", ENTER);
    let f = await frameWith(app, "GROUP");
    expect(f).toContain("eu-infrastructure");
    await press(app, ":", ..."alerts", ENTER);
    f = await frameWith(app, "SEVERITY");
    await press(app, ":", ..."nope", ENTER);
    f = await frameWith(app, 'unknown view ":nope"');
    expect(f).toContain(":servers");
    app.unmount();
  });

  it("group → subgroups and members; alert → servers with their values (— when none observed)", async () => {
    const app = mount({ columns: 100, rows: 30 });
    await frameWith(app, "worker-5");
    await press(app, ":", ..."group eu-infrastructure", ENTER);
    let f = await frameWith(app, "Subgroups (");
    expect(f).toContain("Members (");
    await press(app, ":", ..."alert disk_space_low", ENTER);
    f = await frameWith(app, "Applies to (");
    expect(f).toContain("— not observed");
    await press(app, ENTER);
    f = await frameWith(app, "Alerts (");
    expect(f).toContain("disk_space_low");
    expect(f).toContain("alert disk_space_low > ");
    app.unmount();
  });

  it("asks before an action and sends nothing when the answer is not y", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    await press(app, "i");
    const f = await frameWith(app, "[y/N]");
    expect(f).toContain("Install api-1 at its next network boot?");
    await press(app, "n");
    await frameWith(app, "cancelled: nothing was sent");
    app.unmount();
  });

  it("says why an action cannot run, with the error code (not a network-booted machine)", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    await press(app, "i", "y");
    await frameWith(app, "LAB_E_");
    app.unmount();
  });

  it("shows logs and exec as needing a server in local mode, with the code and what to do", async () => {
    const app = mount({ columns: 200, rows: 24 });
    await frameWith(app, "worker-5");
    await press(app, ":", ..."logs", ENTER);
    const f = await frameWith(app, "LAB_E_NEEDS_SERVER");
    expect(f).toContain("lab login");
    app.unmount();
  });

  it("shows a server's power as its controller says (not configured here); p asks, confirms, and reports the refusal", async () => {
    const app = mount({ columns: 120, rows: 30 });
    await frameWith(app, "worker-5");
    await press(app, ":", ..."server worker-5", ENTER);
    await frameWith(app, "Power: not configured");
    await press(app, "p", ..."sideways", ENTER);
    await frameWith(app, "the choices are on, off and cycle");
    await press(app, "p", ..."on", ENTER);
    await frameWith(app, "Power on worker-5? [y/N]");
    await press(app, "y");
    await frameWith(app, "LAB_E_POWER");
    app.unmount();
  });

  it("? shows help with every hotkey; any key closes it", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    await press(app, "?");
    const f = await frameWith(app, "Keys");
    expect(f).toContain("reprovision");
    expect(f).toContain("targeting language");
    await press(app, " ");
    await frameWith(app, "NAME");
    app.unmount();
  });

  it("NO_COLOR: no colour escapes at all, only the cursor's inverse video", async () => {
    const app = mount();
    await frameWith(app, "worker-5");
    const escapes = new Set((app.lastFrame() ?? "").match(SGR));
    expect([...escapes].sort()).toEqual(["\u001b[1m", "\u001b[22m", "\u001b[27m", "\u001b[7m"].sort());
    app.unmount();
  });

  it("colours by theme: light terminals get no yellow or cyan", async () => {
    for (const [env, forbidden] of [
      [{ LAB_TUI_THEME: "light" }, ["\u001b[33m", "\u001b[36m"]],
      [{ COLORFGBG: "0;15" }, ["\u001b[33m", "\u001b[36m"]],
    ] as const) {
      const t = themeFrom(env);
      expect(t.name).toBe("light");
      const app = mount(undefined, t);
      await frameWith(app, "worker-5");
      const f = app.lastFrame() ?? "";
      expect(f).toContain("\u001b[3"); // coloured at all
      for (const code of forbidden) expect(f).not.toContain(code);
      app.unmount();
    }
    expect(themeFrom({}).name).toBe("dark");
  });
});
