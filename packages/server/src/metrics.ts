/** Prometheus metrics: requests, latencies, the event bus and the database. */
import type { PuppetRun, StateStore } from "@lab/core";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { EventBus } from "./bus.js";

/** What /metrics exports of one machine's identity (an enrolled agent's record). */
export interface IdentityFigures {
  name: string;
  certNotAfter: string;
  enrolledAt: string;
  renewedAt: string | null;
  revokedAt: string | null;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "lab_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "lab_http_request_duration_seconds",
    help: "HTTP request latency",
    labelNames: ["method", "route"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly db = new Histogram({
    name: "lab_db_operation_duration_seconds",
    help: "State store operations by name",
    labelNames: ["operation"],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(bus: EventBus) {
    collectDefaultMetrics({ register: this.registry, prefix: "lab_process_" });
    new Gauge({
      name: "lab_event_bus_subscribers",
      help: "Live event stream subscribers",
      registers: [this.registry],
      collect() {
        this.set(bus.size);
      },
    });
    new Gauge({
      name: "lab_event_bus_queued",
      help: "Event messages queued for subscribers (the bus depth)",
      registers: [this.registry],
      collect() {
        this.set(bus.depth);
      },
    });
    new Gauge({
      name: "lab_events_published",
      help: "Events published on the bus since start",
      registers: [this.registry],
      collect() {
        this.set(bus.published);
      },
    });
  }

  private readonly children = new Map<
    string,
    { count: { inc(): void }; time: { observe(v: number): void } }
  >();

  /**
   * Every enrolled machine's certificate, read at each scrape (labelled `lab_server`, the label
   * Lab's rendered rules select on): what the generated `cert_expiry` alert watches.
   */
  identity(agents: () => Promise<IdentityFigures[]>): void {
    const byServer = (name: string, help: string, value: (a: IdentityFigures) => number | null) =>
      this.perServer(name, help, agents, (a) => a.name, value);
    const seconds = (iso: string | null) => (iso ? Date.parse(iso) / 1000 : null);
    // A revoked machine's certificate is not going to renew: it has no expiry to watch.
    byServer("lab_identity_cert_expiry_timestamp_seconds", "When the machine's certificate expires", (a) =>
      a.revokedAt ? null : seconds(a.certNotAfter),
    );
    // When the current certificate was issued (its notBefore is backdated for clock skew).
    byServer(
      "lab_identity_cert_renewed_timestamp_seconds",
      "When the machine last renewed its certificate (its enrolment if never)",
      (a) => seconds(a.renewedAt ?? a.enrolledAt),
    );
    byServer("lab_identity_revoked", "1 when the machine's identity is revoked", (a) =>
      a.revokedAt ? 1 : 0,
    );
  }

  /**
   * Every server's last Puppet run as its reports said (labelled `lab_server`), read from the
   * store at each scrape: what the generated `puppet_run_failed` alert watches. A server no
   * report has reached has no series (unknown is not "fine").
   */
  puppet(runs: () => Promise<PuppetRun[]>): void {
    const gauges: [string, string, (r: PuppetRun) => number | null][] = [
      [
        "lab_puppet_last_run_failed",
        "1 when the server's last Puppet run failed",
        (r) => (r.status === "failed" ? 1 : 0),
      ],
      [
        "lab_puppet_last_run_timestamp_seconds",
        "When the server's last Puppet run started",
        (r) => Date.parse(r.time) / 1000,
      ],
      [
        "lab_puppet_last_run_duration_seconds",
        "How long the server's last Puppet run took",
        (r) => r.timing.total,
      ],
      [
        "lab_puppet_last_run_failed_resources",
        "Resources that failed in the server's last Puppet run",
        (r) => r.resources.failed ?? r.failures.length,
      ],
      [
        "lab_puppet_last_run_catalog_errors",
        "Catalog errors of the server's last Puppet run",
        (r) => r.catalogErrors.length,
      ],
    ];
    // One read of the store per scrape, shared by the gauges (prom-client collects them in turn).
    let pending: Promise<PuppetRun[]> | undefined;
    const read = () => {
      pending ??= runs().finally(() => {
        pending = undefined;
      });
      return pending;
    };
    for (const [name, help, value] of gauges) this.perServer(name, help, read, (r) => r.server, value);
  }

  /**
   * A gauge with one series per server (`lab_server`, the label Lab's rendered rules select
   * on), rebuilt from `rows` at each scrape; a row whose value is unknown has no series.
   */
  private perServer<T>(
    name: string,
    help: string,
    rows: () => Promise<T[]>,
    server: (row: T) => string,
    value: (row: T) => number | null,
  ): void {
    new Gauge({
      name,
      help,
      labelNames: ["lab_server"],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await rows()) {
          const v = value(row);
          if (v !== null && Number.isFinite(v)) this.set({ lab_server: server(row) }, v);
        }
      },
    });
  }

  /** Counts and times one request; label children are bound once per route (hot path). */
  observeRequest(method: string, route: string, status: number, elapsedMs: number): void {
    const key = `${method} ${route} ${status}`;
    let c = this.children.get(key);
    if (!c) {
      c = {
        count: this.requests.labels(method, route, String(status)),
        time: this.latency.labels(method, route),
      };
      this.children.set(key, c);
    }
    c.count.inc();
    c.time.observe(elapsedMs / 1000);
  }

  /** The store with every async method timed. */
  timed<T extends StateStore>(store: T): T {
    const db = this.db;
    return new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== "function" || prop === "constructor") return value;
        return (...args: unknown[]) => {
          const end = db.startTimer({ operation: String(prop) });
          const result = value.apply(target, args);
          if (result instanceof Promise) return result.finally(() => end());
          end();
          return result;
        };
      },
    });
  }
}
