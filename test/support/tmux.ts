/**
 * A real terminal for full-screen programs: tmux on a private socket (-L), driven with
 * send-keys and read with capture-pane. Each session gets its own server socket, so tests
 * never touch a user's tmux, and `kill()` removes the server with everything in it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface Terminal {
  /** tmux key names (`Enter`, `Escape`, `Tab`, `C-r`) or literal text with `{ literal: true }`. */
  keys(...keys: string[]): void;
  type(text: string): void;
  /** The screen as text (no colours), or with escapes when `ansi` is set. */
  screen(ansi?: boolean): string;
  /** Polls the screen until `predicate` holds; throws with the screen after `limitMs` (a hang guard). */
  waitFor(predicate: string | ((screen: string) => boolean), limitMs?: number): Promise<string>;
  resize(columns: number, rows: number): void;
  kill(): void;
}

export function requireTmux(): void {
  if (spawnSync("tmux", ["-V"]).status !== 0) {
    throw new Error("tmux is not installed: apt-get install tmux (scripts/ensure-peers.sh does it)");
  }
}

/** Starts `command` (argv) in a detached session of the given size. */
export function startTerminal(
  argv: string[],
  o: { columns: number; rows: number; env: Record<string, string>; cwd: string },
): Terminal {
  requireTmux();
  const socket = `lab-test-${randomBytes(4).toString("hex")}`;
  const tmux = (...args: string[]) =>
    execFileSync("tmux", ["-L", socket, "-f", "/dev/null", ...args], { encoding: "utf8" });
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const cmd = `cd ${shellQuote(o.cwd)} && exec env -i ${env.join(" ")} ${argv.map(shellQuote).join(" ")}`;
  tmux("new-session", "-d", "-s", "t", "-x", String(o.columns), "-y", String(o.rows), cmd);
  // Keep the pane (and its last screen) if the program exits, so a failure can be read.
  tmux("set-option", "-t", "t", "remain-on-exit", "on");
  const t: Terminal = {
    keys: (...keys) => void tmux("send-keys", "-t", "t", ...keys),
    type: (text) => void tmux("send-keys", "-t", "t", "-l", text),
    screen: (ansi = false) => tmux("capture-pane", "-p", ...(ansi ? ["-e"] : []), "-t", "t"),
    async waitFor(predicate, limitMs = 20_000) {
      const test = typeof predicate === "string" ? (s: string) => s.includes(predicate) : predicate;
      const deadline = Date.now() + limitMs;
      for (;;) {
        const s = t.screen();
        if (test(s)) return s;
        if (Date.now() > deadline) throw new Error(`the terminal never showed ${String(predicate)}:\n${s}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    resize: (columns, rows) =>
      void tmux("resize-window", "-t", "t", "-x", String(columns), "-y", String(rows)),
    kill: () => {
      spawnSync("tmux", ["-L", socket, "kill-server"]);
    },
  };
  return t;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
