/**
 * The boot port's routes as machines use them, in-process over a temporary SQLite store: what
 * dispatch answers, per-machine install files (with the one-time join token and the agent
 * installer), image files, and what is refused — wrong tokens, bad reports, traversal.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InstallLogBuffer, Provisioner, Timeline } from "@lab/pxe";
import { type KyselyStore, openSqliteStore } from "@lab/store";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerBootRoutes } from "../../packages/server/src/provision-routes.js";
import { errorHandler } from "../../packages/server/src/routes.js";

const MAC = "52:54:00:be:ef:01";
const BASE = "http://10.0.0.1:7480";
/** A real (public) key: install configs refuse lines that do not decode. */
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINiB3pY9HtnQtvtf/+vDsXxm9LQQVl0zg3Wuz4zQKngT lab-test";

describe("boot routes", () => {
  let dir: string;
  let store: KyselyStore;
  let app: FastifyInstance;
  let p: Provisioner;
  const minted: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lab-boot-routes-"));
    store = await openSqliteStore(join(dir, "state.db"));
    p = new Provisioner({
      db: store.db,
      store,
      timeline: new Timeline(store.db),
      secret: Buffer.alloc(32, 1),
    });
    const agentDir = join(dir, "agent");
    mkdirSync(agentDir);
    writeFileSync(join(agentDir, "lab-agent"), "#!/bin/sh\n");
    mkdirSync(join(dir, "images", "lab-discovery"), { recursive: true });
    writeFileSync(join(dir, "images", "lab-discovery", "vmlinuz"), Buffer.alloc(4096, 7));
    app = Fastify();
    app.setErrorHandler(errorHandler);
    registerBootRoutes(app, {
      provisioner: p,
      logs: new InstallLogBuffer({ dir: join(dir, "logs") }),
      imagesDir: join(dir, "images"),
      context: () => ({
        serverUrl: BASE,
        domain: "lab.internal",
        sshAuthorizedKeys: [KEY],
      }),
      joinToken: async (name) => {
        const token = `labj_${name}_${minted.length}`;
        minted.push(token);
        return token;
      },
      agent: {
        dir: agentDir,
        apiUrl: () => "https://10.0.0.1:7443",
        caPem: "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----",
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await p.timeline.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses an unknown machine when discovery is off, with the reason on its console", async () => {
    const r = await app.inject({ url: `/pxe/v1/dispatch?mac=${MAC}` });
    expect(r.statusCode).toBe(200);
    expect(r.body).toMatch(/^#!ipxe/);
    expect(r.body).toContain("echo lab: error Lab does not know this machine");
  });

  it("serves an enlisted machine its installer and its own install config with a join token", async () => {
    await p.enlist({ mac: MAC, name: "web-1", image: "ubuntu-24.04" });
    const script = (await app.inject({ url: `/pxe/v1/dispatch?mac=${MAC}&platform=efi` })).body;
    expect(script).toContain("echo lab: install ubuntu-24.04 for web-1");
    const token = /\/pxe\/v1\/machines\/[^/]+\/([A-Za-z0-9_-]{43})\//.exec(script)?.[1];
    expect(token).toBeDefined();

    const userData = await app.inject({ url: `/pxe/v1/machines/${MAC}/${token}/user-data` });
    expect(userData.statusCode).toBe(200);
    expect(userData.body).toMatch(/^#cloud-config/);
    expect(userData.body).toContain(minted.at(-1));
    expect(userData.body).toContain(`${BASE}/pxe/v1/agent/install.sh`);
    // Only the main config carries a join token: meta-data mints none.
    const before = minted.length;
    expect((await app.inject({ url: `/pxe/v1/machines/${MAC}/${token}/meta-data` })).statusCode).toBe(200);
    expect(minted.length).toBe(before);

    const install = await app.inject({ url: "/pxe/v1/agent/install.sh" });
    expect(install.body).toContain("LAB_AGENT_SERVER=https://10.0.0.1:7443");

    const wrong = await app.inject({ url: `/pxe/v1/machines/${MAC}/${"x".repeat(43)}/user-data` });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.code).toBe("LAB_E_INSTALL_TOKEN");

    const event = await app.inject({
      method: "POST",
      url: `/pxe/v1/log?mac=${MAC}&token=${token}`,
      payload: { event_type: "start", name: "subiquity/Install", description: "installing" },
    });
    expect(event.json()).toEqual({ accepted: 1 });
  });

  it("validates what machines post and keeps image files inside the image", async () => {
    const bad = await app.inject({
      method: "POST",
      url: "/pxe/v1/progress",
      payload: { mac: MAC, stage: "Oops!" },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("LAB_E_BAD_REPORT");
    const noToken = await app.inject({
      method: "POST",
      url: "/pxe/v1/progress",
      payload: { mac: MAC, stage: "booted" },
    });
    expect(noToken.json().error.code).toBe("LAB_E_INSTALL_TOKEN");
    const garbage = await app.inject({
      method: "POST",
      url: "/pxe/v1/inventory",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    expect(garbage.statusCode).toBe(400);

    expect((await app.inject({ url: "/pxe/v1/images/lab-discovery/vmlinuz" })).body.length).toBe(4096);
    // Over a real socket (inject's response reports headers that a real one does not): the file
    // is streamed on the raw response, and its timeline step still says what was sent.
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    const real = await fetch(`${url}/pxe/v1/images/lab-discovery/vmlinuz`);
    expect((await real.arrayBuffer()).byteLength).toBe(4096);
    await vi.waitFor(async () => {
      const steps = await p.timeline.read(MAC);
      const fetched = steps.filter((e) => e.type === "GET /pxe/v1/images/lab-discovery/vmlinuz");
      expect(fetched.at(-1)?.detail).toMatchObject({ status: 200, bytes: 4096 });
    });
    for (const file of ["..%2F..%2Fstate.db", "initrd.gz", ".hidden"]) {
      expect((await app.inject({ url: `/pxe/v1/images/lab-discovery/${file}` })).statusCode).toBe(404);
    }
    expect((await app.inject({ url: "/pxe/v1/agent/..%2Fstate.db" })).statusCode).toBe(404);
    // Nothing of that changed the machine.
    expect((await p.find(MAC)).state).toBe("INSTALL_QUEUE");
  });
});
