/**
 * Debian's real puppetserver (7.9) on its own loopback port, with a private confdir, vardir,
 * ssldir and CA in a throwaway directory, and a small heap. Java is started directly, not
 * through `puppetserver foreground`: that script runs java under `runuser … bash -c`, so
 * stopping the script leaves java holding its port and its vardir, and a second start then
 * waits forever for a server that cannot bind — the 240 s time-out an earlier run saw. Here
 * the test's child IS the JVM (setpriv kills it with the test worker), every start gets a
 * fresh port and a fresh tree, and readiness is its status endpoint answering, not a timer.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnTracked, type TrackedChild } from "./child.js";

const JAR = "/usr/share/puppetserver/puppetserver.jar";
const DEBIAN_CONF = "/etc/puppet/puppetserver";
/** The JVM's first start compiles JRuby and makes a CA; on a loaded 2-core machine it takes minutes. */
const START_GUARD_MS = 15 * 60_000;

export function assertPuppetServerInstalled(): void {
  if (!existsSync(JAR)) {
    throw new Error(
      "Debian's puppetserver is not installed: apt-get install puppetserver (scripts/ensure-peers.sh)",
    );
  }
}

export interface PuppetServerOptions {
  /** The executable puppetserver runs for each CSR (policy-based autosigning). */
  autosign?: string;
  /** An exec ENC (node_terminus = exec): puppetserver classifies nodes through it. */
  enc?: string;
  /** Extra [server] settings for its puppet.conf. */
  settings?: Record<string, string>;
}

export interface PuppetServer {
  port: number;
  dir: string;
  /** The name the server's certificate carries (agents use it with --server). */
  host: string;
  /** Milliseconds from spawning the JVM to its status endpoint answering "running". */
  startMs: number;
  output(): string;
  /** Writes a manifest into the production environment. */
  manifest(module: string, file: string, text: string): void;
  stop(): Promise<void>;
}

const HOST = "localhost";

export async function startPuppetServer(opts: PuppetServerOptions = {}): Promise<PuppetServer> {
  assertPuppetServerInstalled();
  const dir = mkdtempSync(join(tmpdir(), "lab-puppetserver-"));
  const d = (...p: string[]) => join(dir, ...p);
  for (const sub of [
    "conf.d",
    "services.d",
    "puppet",
    "code/environments/production/manifests",
    "var",
    "run",
    "log",
  ]) {
    mkdirSync(d(sub), { recursive: true });
  }
  const port = await freePort();
  writeFileSync(
    d("conf.d", "puppetserver.conf"),
    `jruby-puppet: {
  ruby-load-path: [/usr/lib/puppetserver/ruby/vendor_ruby]
  gem-home: ${d("var", "jruby-gems")}
  gem-path: [${d("var", "jruby-gems")}, "/usr/lib/puppetserver/vendored-jruby-gems"]
  server-conf-dir: ${d("puppet")}
  server-code-dir: ${d("code")}
  server-var-dir: ${d("var")}
  server-run-dir: ${d("run")}
  server-log-dir: ${d("log")}
  max-active-instances: 1
}
http-client: {}
profiler: {}
`,
  );
  writeFileSync(
    d("conf.d", "webserver.conf"),
    `webserver: {\n  client-auth: want\n  ssl-host: 127.0.0.1\n  ssl-port: ${port}\n}\n`,
  );
  writeFileSync(d("conf.d", "global.conf"), `global: {\n  logging-config: ${d("logback.xml")}\n}\n`);
  writeFileSync(
    d("logback.xml"),
    `<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d %-5p [%c{2}] %m%n</pattern></encoder>
  </appender>
  <logger name="org.eclipse.jetty" level="WARN"/>
  <root level="info"><appender-ref ref="STDOUT"/></root>
</configuration>
`,
  );
  // Debian's own service list and request rules; only the paths above are private.
  for (const f of ["auth.conf", "ca.conf", "metrics.conf", "web-routes.conf"]) {
    writeFileSync(d("conf.d", f), readFileSync(join(DEBIAN_CONF, "conf.d", f)));
  }
  for (const f of ["bootstrap.cfg", "ca.cfg"]) {
    writeFileSync(d("services.d", f), readFileSync(join(DEBIAN_CONF, "services.d", f)));
  }
  const server: Record<string, string> = {
    certname: HOST,
    dns_alt_names: `${HOST},127.0.0.1`,
    ssldir: d("puppet", "ssl"),
    cadir: d("puppet", "ca"),
    vardir: d("var"),
    logdir: d("log"),
    rundir: d("run"),
    codedir: d("code"),
    // Reports stay with the test; the ENC and autosign hooks are what is under test.
    reports: "none",
    ...(opts.autosign ? { autosign: opts.autosign } : {}),
    ...(opts.enc ? { node_terminus: "exec", external_nodes: opts.enc } : {}),
    ...opts.settings,
  };
  writeFileSync(
    d("puppet", "puppet.conf"),
    `[main]\n${Object.entries(server)
      .map(([k, v]) => `${k} = ${v}`)
      .join("\n")}\n`,
  );

  const started = Date.now();
  const child = spawnTracked("/usr/bin/env", [
    `HOME=${dir}`,
    "/usr/bin/java",
    "-Xms256m",
    "-Xmx512m",
    "-Djruby.lib=/usr/share/jruby/lib",
    "-Dlogappender=STDOUT",
    "-XX:+CrashOnOutOfMemoryError",
    "-jar",
    JAR,
    "--config",
    d("conf.d"),
    "--bootstrap-config",
    d("services.d"),
  ]);
  await waitRunning(child, port);
  const startMs = Date.now() - started;
  return {
    port,
    dir,
    host: HOST,
    startMs,
    output: () => child.output(),
    manifest(module, file, text) {
      const at = d("code", "environments", "production", "modules", module, "manifests");
      mkdirSync(at, { recursive: true });
      writeFileSync(join(at, `${file}.pp`), text);
    },
    stop: () => child.stop(),
  };
}

/**
 * Polls the status service until it says "running". The only bound is a generous guard that
 * a hung JVM cannot outlive; a JVM that exits fails at once with its output.
 */
async function waitRunning(child: TrackedChild, port: number): Promise<void> {
  const end = Date.now() + START_GUARD_MS;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  while (Date.now() < end) {
    if (exited) throw new Error(`puppetserver exited while starting:\n${child.output().slice(-6000)}`);
    if ((await status(port)) === "running") return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await child.stop();
  throw new Error(
    `puppetserver did not start in ${START_GUARD_MS / 60_000} min:\n${child.output().slice(-6000)}`,
  );
}

/** GET /status/v1/simple over TLS (its CA is made at first start, so not verified here). */
function status(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: "127.0.0.1", port, path: "/status/v1/simple", rejectUnauthorized: false, timeout: 5000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve(body.trim()));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}
