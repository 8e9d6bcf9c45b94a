import { describe, expect, it } from "vitest";
import type { LabEvent } from "./model.js";
import { type EventSource, type SourceContext, SourceRegistry } from "./sources.js";

const event = (message: string): LabEvent => ({
  time: new Date().toISOString(),
  node: null,
  service: null,
  source: "test",
  level: "info",
  message,
  attributes: {},
});

/** A source driven by the test: it records its starts and stops and hands out its context. */
function scripted(name: string, startError?: () => Error | undefined) {
  const s = {
    starts: 0,
    stops: 0,
    ctx: undefined as SourceContext | undefined,
    source: {
      name,
      kind: "test",
      start(ctx) {
        s.starts++;
        const e = startError?.();
        if (e) throw e;
        s.ctx = ctx;
      },
      stop() {
        s.stops++;
      },
      status: () => ({ state: "running", detail: "listening" }),
    } satisfies EventSource,
  };
  return s;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("the source registry", () => {
  it("keeps the other sources running when one fails to start, says why, and retries it", async () => {
    const lines: string[] = [];
    const got: string[] = [];
    const reg = new SourceRegistry({
      ingest: async (events) => {
        for (const e of events) got.push(e.message);
      },
      log: (l) => lines.push(l),
      backoffMs: 20,
    });
    let broken = true;
    const bad = scripted("broken", () => (broken ? new Error("permission denied") : undefined));
    const good = scripted("fine");
    reg.add(bad.source);
    reg.add(good.source);
    await reg.startAll();
    const [b, f] = reg.list();
    expect([b?.state, b?.detail]).toEqual(["failed", "failed to start: permission denied; retrying in 0 s"]);
    expect([f?.state, f?.detail]).toEqual(["running", "listening"]);
    expect(lines).toEqual(["event source broken failed to start: permission denied"]);

    await good.ctx?.emit([event("one"), event("two")]);
    expect(got).toEqual(["one", "two"]);
    expect(reg.list()[1]?.events).toBe(2);

    broken = false;
    await until(() => reg.list()[0]?.state === "running", "the retry");
    expect(bad.starts).toBeGreaterThanOrEqual(2);
    expect(reg.list()[0]?.restarts).toBe(bad.starts - 1);
    await reg.stopAll();
  });

  it("a source failing at run time is stopped and restarted; its old context is ignored", async () => {
    const got: string[] = [];
    const reg = new SourceRegistry({
      ingest: async (events) => {
        for (const e of events) got.push(e.message);
      },
      backoffMs: 10,
    });
    const s = scripted("flaky");
    reg.add(s.source);
    await reg.startAll();
    const first = s.ctx as SourceContext;
    first.fail(new Error("connection reset"));
    await until(() => s.stops === 1, "the stop");
    expect(reg.list()[0]?.state).toBe("failed");
    expect(reg.list()[0]?.detail).toContain("connection reset");
    await until(() => s.starts === 2 && reg.list()[0]?.state === "running", "the restart");
    await first.emit([event("from the dead context")]);
    await s.ctx?.emit([event("from the new one")]);
    expect(got).toEqual(["from the new one"]);
    await reg.stopAll();
  });

  it("switches a source off and on, and restarts one on request", async () => {
    const reg = new SourceRegistry({ ingest: async () => undefined, disabled: ["quiet"] });
    const a = scripted("a");
    const quiet = scripted("quiet");
    reg.add(a.source);
    reg.add(quiet.source);
    await reg.startAll();
    expect(quiet.starts).toBe(0);
    expect(reg.list().map((s) => s.state)).toEqual(["running", "disabled"]);

    await reg.disable("a");
    expect(a.stops).toBe(1);
    expect(reg.list()[0]?.state).toBe("disabled");
    await reg.enable("a");
    await reg.enable("quiet");
    expect(reg.list().map((s) => s.state)).toEqual(["running", "running"]);
    await reg.restart("a");
    expect([a.starts, a.stops, reg.list()[0]?.restarts]).toEqual([3, 2, 1]);
    await expect(reg.restart("nope")).rejects.toThrow("no event source named nope (known: a, quiet)");
    await reg.stopAll();
    expect(reg.list().map((s) => s.state)).toEqual(["stopped", "stopped"]);
  });
});
