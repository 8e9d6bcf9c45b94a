/**
 * Debian's real puppetserver (7.9) on its own loopback port, with a private confdir, vardir,
 * ssldir and CA in a throwaway directory. Java is started directly, not through
 * `puppetserver foreground`: that script runs java under `runuser … bash -c`, so stopping the
 * script leaves java holding its port and its vardir, and a second start then waits forever for
 * a server that cannot bind. Here the test's child IS the JVM (setpriv kills it with the test
 * worker) and every start gets a fresh tree.
 *
 * What made an earlier run hang for over half an hour beside the full suite, and what is done
 * about each here:
 * - the port came from the kernel's ephemeral range and was bound only 20–120 s later, while
 *   parallel test files take ports from that same range: the port is now picked below it, a
 *   bind failure in the log ends the wait at once (and the start is retried on another port),
 *   and "ready" means the status endpoint answered "running" over TLS with a certificate from
 *   THIS server's CA — a stranger on the port can never look ready;
 * - a 512 MB heap under a loaded machine (GC thrash looks like a hang): Debian's own 1 GB, a
 *   serial GC and C1-only JIT so the JVM competes less for two shared cores;
 * - a request waiting for the single JRuby instance could wait 20 min (puppetserver's default
 *   borrow-timeout): now 3 min, after which puppetserver answers 503 instead of waiting;
 * - waits without a bound: every wait here ends with an error saying what it waited for and the
 *   tail of puppetserver's log.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnTracked, type TrackedChild } from "./child.js";

const JAR = "/usr/share/puppetserver/puppetserver.jar";
const DEBIAN_CONF = "/etc/puppet/puppetserver";
/**
 * The JVM's first start loads JRuby and makes a CA: 23–118 s alone on this 2-core machine. The
 * guard only bounds a JVM that will never answer; it is not a performance expectation.
 */
export const START_GUARD_MS = 10 * 60_000;
/** How much of puppetserver's log an error carries. */
const LOG_TAIL = 6000;

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
  /** The address agents use with --server (an IP SAN of the server's certificate). */
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
    "tmp",
  ]) {
    mkdirSync(d(sub), { recursive: true });
  }
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
  # A request waiting for the one JRuby gets a 503 after this, instead of the 20 min default.
  borrow-timeout: 180000
}
http-client: {}
profiler: {}
`,
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
    // Agents connect to 127.0.0.1 itself: "localhost" may resolve to ::1 first, where another
    // process may listen on the same port number.
    dns_alt_names: `DNS:${HOST},IP:127.0.0.1`,
    ssldir: d("puppet", "ssl"),
    cadir: d("puppet", "ca"),
    vardir: d("var"),
    logdir: d("log"),
    rundir: d("run"),
    codedir: d("code"),
    // Debian's default is /var/cache/puppet/public whatever the confdir.
    publicdir: d("var", "public"),
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
  // A port another process took between our check and the JVM's bind is retried once.
  for (let attempt = 1; ; attempt++) {
    const port = await portBelowEphemeralRange();
    writeFileSync(
      d("conf.d", "webserver.conf"),
      `webserver: {\n  client-auth: want\n  ssl-host: 127.0.0.1\n  ssl-port: ${port}\n}\n`,
    );
    const child = spawnTracked("/usr/bin/env", [
      `HOME=${dir}`,
      "/usr/bin/java",
      // Debian's /etc/default/puppetserver heap; 512 MB made a loaded machine's GC thrash.
      "-Xms1g",
      "-Xmx1g",
      // Two shared cores: one GC thread and the quick JIT leave more CPU to everything else.
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-XX:+ExitOnOutOfMemoryError",
      `-Djava.io.tmpdir=${d("tmp")}`,
      "-Djava.security.egd=file:/dev/urandom",
      "-Djruby.lib=/usr/share/jruby/lib",
      "-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
      "-Dlogappender=STDOUT",
      "-jar",
      JAR,
      "--config",
      d("conf.d"),
      "--bootstrap-config",
      d("services.d"),
    ]);
    const outcome = await waitRunning(child, port, [
      d("puppet", "ca", "ca_crt.pem"),
      d("puppet", "ssl", "certs", "ca.pem"),
    ]);
    if (outcome === "bind-failed" && attempt < 2) {
      await child.stop();
      continue;
    }
    if (outcome === "bind-failed") {
      await child.stop();
      throw new Error(`puppetserver could not bind 127.0.0.1:${port} (twice):\n${tail(child)}`);
    }
    return {
      port,
      dir,
      host: "127.0.0.1",
      startMs: Date.now() - started,
      output: () => child.output(),
      manifest(module, file, text) {
        const at = d("code", "environments", "production", "modules", module, "manifests");
        mkdirSync(at, { recursive: true });
        writeFileSync(join(at, `${file}.pp`), text);
      },
      async stop() {
        await child.stop();
        // Its CA, keys and state are this run's alone: nothing is kept for the next one.
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

function tail(child: TrackedChild): string {
  return `--- puppetserver log (last ${LOG_TAIL} chars) ---\n${child.output().slice(-LOG_TAIL)}`;
}

/**
 * A free loopback port below the kernel's ephemeral range (ip_local_port_range): ports the
 * kernel hands to `listen(0)` and to outgoing connections of parallel tests come from that
 * range, so a port picked there can be taken in the minute before the JVM binds it.
 */
async function portBelowEphemeralRange(): Promise<number> {
  // Above the fixed ports other test files bind later (17xxx, 21xxx): free now is not free then.
  const FLOOR = 23_000;
  const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  const top = Number.isInteger(low) && low > FLOOR + 1000 ? low : 32_768;
  for (let i = 0; i < 50; i++) {
    const port = FLOOR + Math.floor(Math.random() * (top - FLOOR));
    // Free on both loopbacks: nothing else may answer to this port number.
    if ((await canListen(port, "127.0.0.1")) && (await canListen(port, "::1"))) return port;
  }
  throw new Error(`no free loopback port found between ${FLOOR} and ${top} in 50 tries`);
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    // No IPv6 loopback at all: nothing can listen there either.
    srv.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "EADDRNOTAVAIL"));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * Polls the status service until it says "running" over TLS with a certificate issued by this
 * server's own CA (read from its ssldir once it exists). Ends early when the JVM exits or logs
 * a bind failure; otherwise bounded by START_GUARD_MS. Every failure carries the log's tail.
 */
async function waitRunning(
  child: TrackedChild,
  port: number,
  caFiles: string[],
): Promise<"running" | "bind-failed"> {
  const end = Date.now() + START_GUARD_MS;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  let last = "no CA certificate yet (the CA service has not initialised)";
  while (Date.now() < end) {
    if (/BindException|Address already in use|Failed to bind/.test(child.output())) return "bind-failed";
    if (exited) throw new Error(`puppetserver exited while starting (port ${port}):\n${tail(child)}`);
    const caFile = caFiles.find((f) => existsSync(f));
    if (caFile) {
      const answer = await status(port, readFileSync(caFile, "utf8"));
      if (answer === "running") return "running";
      last = answer;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  await child.stop();
  throw new Error(
    `puppetserver did not answer "running" on https://127.0.0.1:${port}/status/v1/simple within ` +
      `${START_GUARD_MS / 60_000} min (last: ${last}):\n${tail(child)}`,
  );
}

/** GET /status/v1/simple, trusting only this server's CA; the body, or what went wrong. */
function status(port: number, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: "127.0.0.1", port, path: "/status/v1/simple", ca, servername: HOST, timeout: 10_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve(body.trim() || `HTTP ${res.statusCode} with an empty body`));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer in 10 s")));
    req.on("error", (e) => resolve(`${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}`.trim()));
  });
}
