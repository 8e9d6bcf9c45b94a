import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LabEvent } from "./model.js";
import { filePositionStore, OtelFileTail, parseOtelLine } from "./otel-file.js";

/** One line as the collector's file exporter writes it (shape recorded from otelcol-contrib). */
function line(messages: string[], host = "worker-5", severityNumber = 9): string {
  return `${JSON.stringify({
    resourceLogs: [
      {
        resource: {
          attributes: [
            { key: "host.name", value: { stringValue: host } },
            { key: "service.name", value: { stringValue: "kubelet" } },
          ],
        },
        scopeLogs: [
          {
            scope: { name: "filelog" },
            logRecords: messages.map((m, i) => ({
              timeUnixNano: String(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n),
              observedTimeUnixNano: "1700000000100000000",
              severityNumber,
              severityText: "INFO",
              body: { stringValue: m },
              attributes: [
                { key: "log.file.name", value: { stringValue: "kubelet.log" } },
                { key: "pid", value: { intValue: "42" } },
              ],
            })),
          },
        ],
      },
    ],
  })}\n`;
}

let dir: string;
let path: string;
let got: LabEvent[];
const messages = () => got.map((e) => e.message);

function tail() {
  return new OtelFileTail({
    path,
    positions: filePositionStore(join(dir, "position.json")),
    sink: (events) => {
      got.push(...events);
    },
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "lab-otel-"));
  path = join(dir, "logs.json");
  got = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the OTel collector file exporter format", () => {
  it("becomes events with node, service, level, message and attributes", () => {
    const [e] = parseOtelLine(line(["node ready"], "db-1", 17), "otel-file:x");
    expect(e).toEqual({
      time: "2023-11-14T22:13:20.000Z",
      node: "db-1",
      service: "kubelet",
      source: "otel-file:x",
      level: "error",
      message: "node ready",
      // host.name and service.name became node and service: not repeated here.
      attributes: {
        "log.file.name": "kubelet.log",
        pid: 42,
        "otel.scope": "filelog",
      },
    });
  });
});

describe("the OTel file tail", () => {
  it("delivers complete lines only, a half-written line once it ends", async () => {
    const t = tail();
    await t.poll();
    expect(t.status.state).toBe("waiting");
    writeFileSync(path, line(["a", "b"]));
    const half = line(["c"]);
    appendFileSync(path, half.slice(0, 40));
    await t.poll();
    expect(messages()).toEqual(["a", "b"]);
    appendFileSync(path, half.slice(40));
    await t.poll();
    expect(messages()).toEqual(["a", "b", "c"]);
    await t.stop();
  });

  it("resumes from its stored offset after a restart: nothing again, nothing skipped", async () => {
    writeFileSync(path, line(["1"]) + line(["2"]));
    const first = tail();
    await first.poll();
    await first.stop();
    appendFileSync(path, line(["3"]));
    const second = tail();
    await second.poll();
    expect(messages()).toEqual(["1", "2", "3"]);
    await second.stop();
  });

  it("follows a rotation: the old file's last lines first, then the new file from its start", async () => {
    writeFileSync(path, line(["old-1"]));
    const t = tail();
    await t.poll();
    appendFileSync(path, line(["old-2"])); // written after the last read, before the rotation
    renameSync(path, `${path}.1`);
    writeFileSync(path, line(["new-1"]));
    await t.poll();
    appendFileSync(path, line(["new-2"]));
    await t.poll();
    expect(messages()).toEqual(["old-1", "old-2", "new-1", "new-2"]);
    expect(t.status.rotations).toBe(1);
    await t.stop();
  });

  it("reads a file truncated in place again from the start, and reports the truncation", async () => {
    writeFileSync(path, line(["before-1"]) + line(["before-2"]));
    const t = tail();
    await t.poll();
    truncateSync(path, 0);
    appendFileSync(path, line(["after"]));
    await t.poll();
    expect(messages()).toEqual(["before-1", "before-2", "after"]);
    expect(t.status.truncations).toBe(1);
    await t.stop();
  });

  it("counts a line that is not JSON and delivers the rest", async () => {
    writeFileSync(path, `${line(["ok-1"])}{not json\n${line(["ok-2"])}`);
    const t = tail();
    await t.poll();
    expect(messages()).toEqual(["ok-1", "ok-2"]);
    expect(t.status).toMatchObject({ lines: 3, malformed: 1, events: 2, state: "reading" });
    await t.stop();
  });

  it("does not commit a batch the sink refused: the next poll delivers it again", async () => {
    writeFileSync(path, line(["x"]));
    let fail = true;
    const t = new OtelFileTail({
      path,
      positions: filePositionStore(join(dir, "position.json")),
      sink: (events) => {
        if (fail) throw new Error("store unavailable");
        got.push(...events);
      },
    });
    await t.poll();
    expect(t.status.state).toBe("failed");
    expect(t.status.detail).toBe("store unavailable");
    fail = false;
    await t.stop();
    const again = tail();
    await again.poll();
    expect(messages()).toEqual(["x"]);
    await again.stop();
  });
});
