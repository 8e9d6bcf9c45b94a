/**
 * The blackbox_exporter modules Lab renders, against the real exporter (Debian's
 * prometheus-blackbox-exporter): its own config check accepts them, and the banner modules
 * really tell a greeting server from a silent one.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Fleet } from "@lab/core";
import { renderPrometheus } from "@lab/monitor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelOf } from "../../packages/core/src/testing.js";
import { freePort, waitFor } from "../support/prometheus-process.js";

const BLACKBOX = process.env.LAB_TEST_BLACKBOX || "/usr/bin/prometheus-blackbox-exporter";

function modulesFile(): string {
  const files = renderPrometheus(
    new Fleet(
      modelOf("labels: {m: {ports: [25]}}\nservers: {s: {provider: p, labels: [m], host: 127.0.0.1}}\n"),
    ),
  );
  const modules = files.find((f) => f.path === "blackbox-modules.yaml");
  if (!modules) throw new Error("the renderer wrote no blackbox-modules.yaml");
  const path = join(mkdtempSync(join(tmpdir(), "lab-blackbox-")), "blackbox.yml");
  writeFileSync(path, modules.content);
  return path;
}

function check(path: string) {
  const r = spawnSync(BLACKBOX, [`--config.file=${path}`, "--config.check"], { encoding: "utf8" });
  if (r.error) throw new Error(`${BLACKBOX} is missing: apt-get install -y prometheus-blackbox-exporter`);
  return r;
}

describe("blackbox_exporter modules, for real", { timeout: 60_000 }, () => {
  let exporter: ChildProcess;
  let port: number;
  const listeners: Server[] = [];
  const listen = (greeting: string | null) =>
    new Promise<number>((resolve) => {
      const server = createServer((socket) => {
        if (greeting) socket.write(greeting);
        socket.on("error", () => undefined);
        setTimeout(() => socket.destroy(), 2000);
      });
      listeners.push(server);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
    });
  const probe = async (module: string, target: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/probe?module=${module}&target=${target}`);
    const text = await res.text();
    return /^probe_success (\d)/m.exec(text)?.[1];
  };

  beforeAll(async () => {
    const config = modulesFile();
    expect(check(config).status).toBe(0);
    port = await freePort();
    exporter = spawn(BLACKBOX, [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: "ignore",
    });
    await waitFor("blackbox_exporter answers", async () => {
      const ok = await fetch(`http://127.0.0.1:${port}/-/healthy`).then(
        (r) => r.ok,
        () => false,
      );
      return ok || undefined;
    });
  });

  afterAll(() => {
    exporter?.kill("SIGKILL");
    for (const l of listeners) l.close();
  });

  it("its own config check accepts what Lab renders, and rejects a broken module", () => {
    const bad = join(mkdtempSync(join(tmpdir(), "lab-blackbox-")), "bad.yml");
    writeFileSync(
      bad,
      'modules:\n  bad:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: "("\n',
    );
    expect(check(bad).status).not.toBe(0);
  });

  it("smtp_banner succeeds on a server that greets with 220 and fails on a silent one", async () => {
    const greeting = await listen("220 mail.example ESMTP ready\r\n");
    const silent = await listen(null);
    expect(await probe("smtp_banner", `127.0.0.1:${greeting}`)).toBe("1");
    expect(await probe("smtp_banner", `127.0.0.1:${silent}`)).toBe("0");
  });

  it("tcp_connect tells an open port from a closed one", async () => {
    const open = await listen(null);
    const closed = await freePort();
    expect(await probe("tcp_connect", `127.0.0.1:${open}`)).toBe("1");
    expect(await probe("tcp_connect", `127.0.0.1:${closed}`)).toBe("0");
  });
});
