/**
 * Kiosk mode for a wall or touch screen (labwatch's touchscreen, generalised):
 *   /kiosk?page=layout,live,fleet&rotate=30s#token=lab_…
 * No navigation bar, big type, pages shown in turn every `rotate` (0 or "off" holds one),
 * with large ‹ › buttons and a dot per page to choose one by touch. The token may come once
 * in the fragment (never sent to the server) and is then kept by this browser.
 */
import { useEffect, useState } from "preact/hooks";
import type { Principal } from "./api.js";
import { type LinkState, useLive } from "./live.js";
import { FleetPage } from "./pages/fleet.js";
import { LayoutPage } from "./pages/layout.js";
import { LivePage } from "./pages/live.js";
import { ServerPage } from "./pages/server.js";

export const KIOSK_PAGES = ["layout", "live", "fleet"] as const;

/** The token in `#token=…` on a kiosk address, if any. */
export function kioskToken(): string | null {
  if (location.pathname !== "/kiosk") return null;
  return new URLSearchParams(location.hash.replace(/^#\/?/, "")).get("token");
}

/** `30s`, `2m`, `45` (seconds); 0 or `off` means no rotation. Anything else: the default. */
export function rotateMs(text: string | null, fallback = 30_000): number {
  if (!text) return fallback;
  if (text === "off" || text === "0") return 0;
  const m = /^(\d+)(ms|s|m)?$/.exec(text.trim());
  if (!m) return fallback;
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  return Math.max(5000, ms); // a page needs a few seconds to be read
}

/** The pages a kiosk address asks for: layout, live, fleet or servers/NAME; unknown ones dropped. */
export function kioskPages(text: string | null): string[] {
  const asked = (text ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => (KIOSK_PAGES as readonly string[]).includes(p) || /^servers\/[a-z0-9-]+$/.test(p));
  return asked.length ? asked : [...KIOSK_PAGES];
}

const LINK: Record<LinkState, string> = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  stopped: "not connected",
};

export function Kiosk({ me }: { me: Principal }) {
  const params = new URLSearchParams(location.search);
  const pages = kioskPages(params.get("page"));
  const every = rotateMs(params.get("rotate"));
  const [index, setIndex] = useState(0);
  const [now, setNow] = useState(() => new Date());
  const hub = useLive();
  useEffect(() => {
    document.body.classList.add("kiosk");
    const clock = setInterval(() => setNow(new Date()), 1000);
    return () => clearInterval(clock);
  }, []);
  useEffect(() => {
    if (!every || pages.length < 2) return;
    const t = setTimeout(() => setIndex((i) => (i + 1) % pages.length), every);
    return () => clearTimeout(t);
  }, [index, every, pages.length]);
  const page = pages[index] as string;
  const go = (d: number) => setIndex((i) => (i + d + pages.length) % pages.length);
  return (
    <div class="kiosk-shell" data-kiosk-page={page}>
      <header class="kiosk-bar">
        <span class="brand">lab</span>
        <button type="button" class="big-button" onClick={() => go(-1)} aria-label="previous page">
          ‹
        </button>
        <span class="kiosk-title">{page.replace("servers/", "server ")}</span>
        <button type="button" class="big-button" onClick={() => go(1)} aria-label="next page">
          ›
        </button>
        <span class="dots">
          {pages.map((p, i) => (
            <button
              type="button"
              key={p}
              class={`dot${i === index ? " on" : ""}`}
              onClick={() => setIndex(i)}
              aria-label={p}
            />
          ))}
        </span>
        <span class="spacer" />
        <span class="muted">
          {every && pages.length > 1 ? `every ${Math.round(every / 1000)} s` : "held"}
        </span>
        <span class={`link link-${hub.state}`} data-testid="link">
          ● {LINK[hub.state]}
        </span>
        <span class="clock">{now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}</span>
        <span class="muted">{me.name}</span>
      </header>
      <main class="kiosk-main">
        {page === "layout" ? (
          <LayoutPage big />
        ) : page === "live" ? (
          <LivePage big />
        ) : page === "fleet" ? (
          <FleetPage q="" />
        ) : (
          // A kiosk never offers actions: it is a screen on a wall, not a console.
          <ServerPage name={page.slice("servers/".length)} me={null} />
        )}
      </main>
    </div>
  );
}
