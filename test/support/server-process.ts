/**
 * `lab server` as a real child process, for fault-tolerance tests: spawned from the built CLI
 * on a free loopback port (the kernel picks it: `--listen 127.0.0.1:0`), ready once it prints
 * "Ready." and /readyz answers, killable with any signal.
 *
 * Cleanup never depends on the test passing: every child is tracked and `killAllServers()`
 * SIGKILLs whatever is still running (call it in afterAll); a process "exit" hook does the
 * same synchronously; and on Linux each child is started through `setpriv --pdeathsig KILL`,
 * so the kernel kills it even if the test worker itself dies without running any hook.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { join } from "node:path";
import { ROOT } from "./cli.js";

/** The built CLI; LAB_TEST_BIN runs another build (e.g. a deliberately broken one, to see a test fail). */
const BIN = process.env.LAB_TEST_BIN || join(ROOT, "bin/lab.js");

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** LAB_HOME of the server (state.db, server/admin.token, …). */
  home: string;
  /** `--db`: a postgres:// URL or a SQLite file. */
  db?: string;
  /** true: HTTPS with Lab's CA; default false (`--insecure-http`, allowed on 127.0.0.1). */
  tls?: boolean;
  /** More `lab server` arguments. */
  args?: string[];
  env?: Record<string, string>;
  /** How long to wait for "Ready." before giving up (a hang guard, not a measurement). */
  readyTimeoutMs?: number;
}

export interface Response<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export interface ServerProcess {
  readonly pid: number;
  readonly home: string;
  /** http://127.0.0.1:PORT (https when tls). */
  readonly url: string;
  readonly port: number;
  /** The first-start admin token from LAB_HOME/server/admin.token, if this home has one. */
  readonly token: string | null;
  /** The CA certificate clients must trust (tls only). */
  readonly caPem: string | null;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** Whether the process is still running. */
  readonly running: boolean;
  stdout(): string;
  stderr(): string;
  /** Sends a signal (default SIGKILL). No-op once the process has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves with the exit. */
  stop(graceMs?: number): Promise<Exit>;
  /** One JSON request to the server (Bearer `token`, default this server's admin token). */
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<Response<T>>;
}

const children = new Set<ChildProcess>();

function killSync(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

process.once("exit", () => {
  for (const child of children) killSync(child);
});

let pdeathsig: boolean | undefined;
/** Whether `setpriv --pdeathsig` exists here (util-linux on Linux). */
function canUsePdeathsig(): boolean {
  if (pdeathsig === undefined) {
    if (process.platform !== "linux") pdeathsig = false;
    else {
      const r = spawnSync("setpriv", ["--help"], { encoding: "utf8" });
      pdeathsig = r.status === 0 && r.stdout.includes("--pdeathsig");
    }
  }
  return pdeathsig;
}

/** Kills (SIGKILL) every server still running and waits until each has exited. */
export async function killAllServers(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((done) => child.once("exit", done)));
      killSync(child);
    }
  }
  await Promise.all(waits);
}

/** Pids of spawned servers that are still running (a test asserts this is empty at the end). */
export function runningServerPids(): number[] {
  return [...children]
    .filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined)
    .map((c) => c.pid as number);
}

/** Whether any process with this pid exists (to prove a killed server is really gone). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function startLabServer(opts: StartOptions): Promise<ServerProcess> {
  if (!process.env.LAB_TEST_BIN && !existsSync(join(ROOT, "dist/lab.js"))) {
    throw new Error("dist/lab.js is missing: run `npm run build` first");
  }
  const labArgs = [BIN, "server", "--listen", "127.0.0.1:0"];
  if (!opts.tls) labArgs.push("--insecure-http");
  if (opts.db) labArgs.push("--db", opts.db);
  labArgs.push(...(opts.args ?? []));
  const [command, args] = canUsePdeathsig()
    ? ["setpriv", ["--pdeathsig", "KILL", process.execPath, ...labArgs]]
    : [process.execPath, labArgs];
  const child = spawn(command as string, args as string[], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      HOME: opts.home,
      LAB_HOME: opts.home,
      LAB_ACTOR: "tester",
      ...opts.env,
    },
  });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<Exit>((done) => {
    child.once("exit", (code, signal) => done({ code, signal }));
  });
  // A spawn failure ("error") also ends the process as far as the tests are concerned.
  child.once("error", (e) => {
    err += `\n[spawn error] ${e.message}\n`;
  });
  const isRunning = () => child.exitCode === null && child.signalCode === null;

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`lab server did not print "Ready." in ${opts.readyTimeoutMs ?? 30_000} ms`)),
        opts.readyTimeoutMs ?? 30_000,
      );
      const check = () => {
        const m = /listening on (https?:\/\/[^\s]+)/.exec(out);
        if (m && /^Ready\.$/m.test(out)) {
          clearTimeout(timer);
          // A wildcard listener is reached on loopback.
          resolve((m[1] as string).replace("//0.0.0.0:", "//127.0.0.1:"));
        }
      };
      child.stdout?.on("data", check);
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`lab server exited (code ${e.code}, signal ${e.signal}) before it was ready`));
      });
      check();
    });
    const tokenPath = join(opts.home, "server", "admin.token");
    const caPath = join(opts.home, "server", "ca.crt");
    const caPem = opts.tls && existsSync(caPath) ? readFileSync(caPath, "utf8") : null;
    const agent = url.startsWith("https")
      ? new https.Agent({ keepAlive: true, ca: caPem ?? undefined })
      : new http.Agent({ keepAlive: true });
    void exited.then(() => agent.destroy());
    const server: ServerProcess = {
      pid: child.pid as number,
      home: opts.home,
      url,
      port: Number(new URL(url).port),
      token: existsSync(tokenPath) ? readFileSync(tokenPath, "utf8").trim() : null,
      caPem,
      exited,
      get running() {
        return isRunning();
      },
      stdout: () => out,
      stderr: () => err,
      kill(signal: NodeJS.Signals = "SIGKILL") {
        if (isRunning()) child.kill(signal);
      },
      async stop(graceMs = 15_000) {
        if (!isRunning()) return exited;
        child.kill("SIGTERM");
        const timer = setTimeout(() => killSync(child), graceMs);
        const e = await exited;
        clearTimeout(timer);
        return e;
      },
      request: (method, path, body, token) =>
        requestJson(url, agent, method, path, body, token === undefined ? server.token : token),
    };
    const ready = await server.request<{ status: string }>("GET", "/readyz", undefined, null);
    if (ready.status !== 200) throw new Error(`/readyz answered ${ready.status}: ${ready.text}`);
    return server;
  } catch (e) {
    killSync(child);
    await exited;
    throw new Error(`${(e as Error).message}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`);
  }
}

/** A JSON request with node:http(s), so a test's CA and agent are used as given. */
export function requestJson<T = unknown>(
  base: string,
  agent: http.Agent | false,
  method: string,
  path: string,
  body?: unknown,
  token?: string | null,
): Promise<Response<T>> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  const lib = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, headers, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("error", reject);
      res.on("end", () => {
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: body stays the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}
