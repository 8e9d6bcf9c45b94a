/** A RunEnv from the pieces a host has: power control, the boot timeline, the provisioner, the agent. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { connect } from "node:net";
import { LabError } from "@lab/core";
import type { BootDevice, PowerAction, PowerRow } from "@lab/power";
import { poll, type RunEnv } from "./runner.js";

export interface EnvParts {
  power: {
    act(name: string, action: PowerAction, nextBoot?: BootDevice): Promise<PowerRow>;
    setNextBoot(name: string, device: BootDevice): Promise<PowerRow>;
  };
  /** The server's MAC (from the model), for its boot timeline. */
  macOf(machine: string): Promise<string | null>;
  /** The server's address: its host:, else what the timeline or agent learnt. */
  addressOf(machine: string): Promise<string | null>;
  /** Boot timeline steps of a MAC (the @lab/pxe Timeline's read). */
  timeline?: (mac: string) => Promise<{ time: string; kind: string; type: string }[]>;
  /** The provisioning state of a machine (`INSTALLED`, …). */
  installState?: (machine: string) => Promise<string | null>;
  /**
   * The machine's enrolled agent: when it enrolled and when Lab last heard from it (ISO times;
   * `heardAt` null until it did: lab server fills it from the live channel's heartbeat).
   */
  agent?: (machine: string) => Promise<{ enrolledAt: string; heardAt: string | null } | null>;
  /** Forget a machine / queue an install (the provisioner, the machine found by its MAC). */
  provision?: (machine: string, op: { forget: true } | { image: string }) => Promise<string>;
  callbacks?: (
    machine: string,
  ) => Promise<{ key: string; status: string; at: string; value?: number | string }[]>;
  agentExec?: RunEnv["agentExec"];
}

export function runEnv(p: EnvParts): RunEnv {
  const env: RunEnv = {
    power: async (m, action, nextBoot) => {
      const row = await p.power.act(m, action, nextBoot);
      return `power ${row.state} (${row.detail})`;
    },
    setNextBoot: async (m, device) => {
      const row = await p.power.setNextBoot(m, device);
      return `next boot ${row.nextBoot ?? device}`;
    },
    address: (m) => p.addressOf(m),
    hostExec: (argv, extra, signal) =>
      new Promise((resolve, reject) => {
        const child = spawn(argv[0] as string, argv.slice(1), {
          env: { ...process.env, ...extra },
          signal,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let output = "";
        child.stdout.on("data", (c) => {
          output = (output + String(c)).slice(-10_000);
        });
        child.stderr.on("data", (c) => {
          output = (output + String(c)).slice(-10_000);
        });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? -1, output }));
      }),
    readFile: (path) => readFile(path),
    portOpen: (host, port) =>
      new Promise((resolve) => {
        const s = connect({ host, port, timeout: 2000 });
        const end = (v: boolean) => {
          s.destroy();
          resolve(v);
        };
        s.once("connect", () => end(true));
        s.once("error", () => end(false));
        s.once("timeout", () => end(false));
      }),
    push: (host, port, path, method, body) =>
      new Promise((resolve, reject) => {
        const req = request(
          { host, port, path, method, headers: { "content-length": body.length }, timeout: 30_000 },
          (res) => {
            res.resume();
            res.on("end", () => {
              if ((res.statusCode ?? 0) >= 400)
                reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`));
              else resolve(`${method} ${path}: HTTP ${res.statusCode}`);
            });
          },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
        req.end(body);
      }),
  };
  if (p.timeline) {
    const read = p.timeline;
    env.waitBootStage = async (m, stage, since, signal) => {
      const mac = await p.macOf(m);
      if (!mac) throw new Error(`${m} has no mac: in the model, so its boot timeline is unknown`);
      return poll(async () => {
        const hit = (await read(mac)).find(
          (e) => new Date(e.time) >= since && `${e.kind} ${e.type}`.includes(stage),
        );
        return hit ? `${hit.kind} ${hit.type} at ${hit.time}` : null;
      }, signal);
    };
  }
  if (p.installState) {
    const state = p.installState;
    env.waitInstallState = (m, want, signal) =>
      poll(async () => {
        const s = await state(m);
        return s === want ? `state ${s}` : null;
      }, signal);
  }
  if (p.callbacks) {
    const cb = p.callbacks;
    env.waitCallback = (m, key, status, since, signal) =>
      poll(async () => {
        const hit = (await cb(m)).find(
          (c) => c.key === key && (!status || c.status === status) && new Date(c.at) >= since,
        );
        const value = hit?.value !== undefined ? ` ${hit.value}` : "";
        return hit ? `${key}=${hit.status}${value} at ${hit.at}` : null;
      }, signal);
  }
  if (p.agent) {
    const agent = p.agent;
    // Enrolled since the run began, and heard from after that: a stale record from an earlier
    // run (the same name, an older key) does not count.
    env.waitEnrolled = (m, since, signal) =>
      poll(async () => {
        const a = await agent(m);
        if (!a?.heardAt || new Date(a.enrolledAt) < since) return null;
        return `enrolled ${a.enrolledAt}, heard from ${a.heardAt}`;
      }, signal);
  }
  if (p.provision) env.provision = p.provision;
  if (p.agentExec) env.agentExec = p.agentExec;
  return env;
}

/** What the `forget` and `install` steps need of @lab/pxe's Provisioner. */
export interface ProvisionerLike {
  find(target: string): Promise<{ mac: string; state: string; name: string | null }>;
  forget(target: string): Promise<unknown>;
  install(target: string, o: { image?: string; name?: string }): Promise<{ state: string }>;
  reprovision(target: string, o: { image?: string }): Promise<{ state: string }>;
}

/**
 * The steps `forget` and `install` over a provisioner; the machine is found by its MAC (a
 * discovered machine has no name yet) and an install names it after the lab's server.
 */
export function provisionSteps(
  p: ProvisionerLike,
  macOf: (machine: string) => Promise<string | null>,
): NonNullable<EnvParts["provision"]> {
  const known = async (target: string) => p.find(target).catch(() => null);
  return async (machine, op) => {
    const target = (await macOf(machine)) ?? machine;
    const m = await known(target);
    if ("forget" in op) {
      if (!m) return `${machine} is not known to Lab: nothing to forget`;
      await p.forget(m.mac);
      return `forgot ${m.mac} (was ${m.state}): its next boot is a discovery`;
    }
    if (!m)
      throw new LabError(
        "LAB_E_NOT_FOUND",
        `${machine} (${target}) has not booted yet: power it on and wait for DISCOVERED before install`,
      );
    const r =
      m.state === "INSTALLED"
        ? await p.reprovision(m.mac, { image: op.image })
        : await p.install(m.mac, { image: op.image, name: machine });
    return `${machine} ${r.state} for ${op.image}`;
  };
}
