/**
 * One machine's boot as it happens: its timeline (what was stored, then every new step), its
 * install log and its state, from GET …/timeline and the follow WebSocket
 * (`/api/v1/provision/machines/MAC/follow`). The socket reconnects with backoff; what arrives
 * twice (a step both read and streamed) is shown once.
 */
import { useEffect, useState } from "preact/hooks";
import { api, savedToken } from "./api.js";
import type { Machine } from "./pages/fleet.js";

export interface Step {
  time: string;
  kind: "dhcp" | "tftp" | "http" | "progress" | "syslog" | "state";
  type: string;
  detail: Record<string, unknown>;
}

export interface Followed {
  machine: Machine | undefined;
  steps: Step[];
  lines: string[];
  link: "connecting" | "live" | "reconnecting";
}

const MAX_STEPS = 2000;
const MAX_LINES = 500;
const key = (s: Step) => `${s.time}|${s.kind}|${s.type}`;

export function useFollow(mac: string | null): Followed {
  const [state, setState] = useState<Followed>({
    machine: undefined,
    steps: [],
    lines: [],
    link: "connecting",
  });
  useEffect(() => {
    if (!mac) return;
    let stopped = false;
    let socket: WebSocket | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delay = 500;
    const seen = new Set<string>();
    let steps: Step[] = [];
    let lines: string[] = [];
    let machine: Machine | undefined;
    let link: Followed["link"] = "connecting";
    const publish = () => setState({ machine, steps, lines, link });
    const add = (list: Step[]) => {
      const fresh = list.filter((s) => !seen.has(key(s)));
      for (const s of fresh) seen.add(key(s));
      if (fresh.length) steps = [...steps, ...fresh].slice(-MAX_STEPS);
    };
    const path = `/provision/machines/${encodeURIComponent(mac)}`;
    const connect = async () => {
      try {
        add(await api<Step[]>(`${path}/timeline`));
        publish();
      } catch {
        // the socket below reports the machine's state; the timeline is retried on reconnect
      }
      if (stopped) return;
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(
        `${proto}//${location.host}/api/v1${path}/follow?token=${encodeURIComponent(savedToken() ?? "")}`,
      );
      socket = ws;
      ws.onopen = () => {
        link = "live";
        delay = 500;
        publish();
      };
      ws.onmessage = (m) => {
        const msg = JSON.parse(String(m.data)) as
          | { type: "machine"; machine: Machine }
          | { type: "step"; step: Step }
          | { type: "log"; line: string }
          | { type: "forgotten" };
        if (msg.type === "machine") machine = msg.machine;
        else if (msg.type === "step") add([msg.step]);
        else if (msg.type === "log") lines = [...lines, msg.line].slice(-MAX_LINES);
        else if (msg.type === "forgotten") machine = undefined;
        publish();
      };
      ws.onclose = () => {
        if (stopped) return;
        link = "reconnecting";
        publish();
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 8000);
      };
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [mac]);
  return state;
}

/** The phases of a network boot, in order, and whether the timeline shows each happened. */
export const PHASES = ["DHCP", "TFTP", "iPXE", "installer", "INSTALLED"] as const;
export type Phase = (typeof PHASES)[number];

export function phasesSeen(steps: Step[], state: string | undefined): Record<Phase, boolean> {
  const seen: Record<Phase, boolean> = {
    DHCP: false,
    TFTP: false,
    iPXE: false,
    installer: false,
    INSTALLED: false,
  };
  for (const s of steps) {
    if (s.kind === "dhcp") seen.DHCP = true;
    else if (s.kind === "tftp") seen.TFTP = true;
    else if (s.kind === "http" && /boot\.ipxe|dispatch/.test(s.type)) seen.iPXE = true;
    else if (s.kind === "progress") seen.installer = true;
    else if (s.kind === "state" && s.type === "INSTALLED") seen.INSTALLED = true;
  }
  if (state === "INSTALLED") seen.INSTALLED = true;
  return seen;
}
