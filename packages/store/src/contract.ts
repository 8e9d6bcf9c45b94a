/**
 * The StateStore contract: behaviour every store must show, whatever the database. Each
 * implementation's test file calls `storeContract` with a factory for a fresh, empty database;
 * every test gets its own. Imported only by tests (and by the SQLite test's writer process).
 */
import {
  type AuditEvent,
  type Change,
  type ChangeSummary,
  type EventQuery,
  LabError,
  type NewAuditEvent,
  type PuppetRun,
  type Resource,
  type StateStore,
} from "@lab/core";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { KyselyStore } from "./kysely-store.js";
import { MIGRATION_NAMES } from "./migrations.js";

export interface StoreHarness {
  /** A migrated store over a fresh, empty database. */
  store: KyselyStore;
  /** Opens (and migrates) another store on the same database. The harness closes it in cleanup. */
  reopen: () => Promise<KyselyStore>;
  /** Closes every store still open and removes the database. */
  cleanup: () => Promise<void>;
  /**
   * Starts another writer on the same database that runs `runCounterWriter(…, counter, times,
   * actor)` concurrently with this process, for the serialisation test. Resolves once that
   * writer has its store open; `done` settles when it has finished (rejecting on any error).
   * Default: a second store from `reopen()`, in this process. SQLite needs another process:
   * better-sqlite3 waits for a lock synchronously, so two connections in one thread cannot take
   * turns.
   */
  startWriter?: (counter: string, times: number, actor: string) => Promise<{ done: Promise<void> }>;
}

export type StoreFactory = () => Promise<StoreHarness>;

// ---------------------------------------------------------------------------------------------
// Helpers shared with writer processes (no vitest calls at module level).

/** A counter kept in a server's spec: `attributes.count`. */
export function counterResource(name: string, count: number): Resource<"server"> {
  return { kind: "server", name, spec: { provider: "test", attributes: { count } } };
}

export function counterValue(resources: Resource[], name: string): number | undefined {
  const r = resources.find((x) => x.kind === "server" && x.name === name) as Resource<"server"> | undefined;
  return r ? Number(r.spec.attributes?.count) : undefined;
}

/**
 * One read-modify-write: reads the counter inside `transact`, writes it plus one and records an
 * event whose summary names both values (`c 4 -> 5`), so lost updates show in the audit log.
 */
export function incrementCounter(store: StateStore, counter: string, actor: string): Promise<number> {
  return store.transact((current) => {
    const before = counterValue(current, counter);
    const after = (before ?? 0) + 1;
    const op = before === undefined ? "create" : "update";
    return {
      changes: [{ op, kind: "server", name: counter, resource: counterResource(counter, after) }],
      event: {
        actor,
        action: "increment",
        result: "ok",
        summary: `${counter} ${before ?? 0} -> ${after}`,
        changes: [{ op, kind: "server", name: counter, fields: ["attributes"] }],
      },
      value: after,
    };
  });
}

export async function runCounterWriter(
  store: StateStore,
  counter: string,
  times: number,
  actor: string,
): Promise<void> {
  for (let i = 0; i < times; i++) await incrementCounter(store, counter, actor);
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

const ORIGIN = { file: "fleet/web.yaml", line: 3, column: 5 };

/** One realistic object of every kind (specs as the schema outputs them). */
const SAMPLES: Resource[] = [
  {
    kind: "label",
    name: "web",
    spec: { description: "web tier", puppet_classes: ["nginx"], ports: [80, 443], alerts: ["disk-full"] },
  },
  {
    kind: "group",
    name: "prod-web",
    spec: {
      description: "production web servers",
      match: { labels: ["web"], environment: ["prod"] },
      exclude: { servers: ["old-1"] },
    },
  },
  {
    kind: "size",
    name: "medium",
    spec: { abstract: { cores: 4, memory: "8GB", disk: 100 }, providers: { hetzner: { type: "cx31" } } },
  },
  {
    kind: "alert",
    name: "disk-full",
    spec: {
      name: "disk-full",
      target: { labels: ["web"] },
      condition: "disk_usage_percent > 85",
      for: "5m",
      severity: "critical",
    },
  },
  {
    kind: "secret",
    name: "db/password",
    spec: { type: "dynamic", generator: "pwgen", rotate_every: "90d", per_machine: true },
  },
  {
    kind: "server",
    name: "web-1",
    spec: {
      provider: "hetzner",
      labels: ["web"],
      environment: "prod",
      region: "fsn1",
      mac: "aa:bb:cc:dd:ee:ff",
      attributes: {
        rack: 3,
        "ünïcödé ☃": 'quotes " and \\ backslash\nnewline\ttab',
        nested: { nothing: null, list: [1, 2.5, -3e20, true, ""] },
      },
    },
  },
];

function label(name: string, description = name): Resource<"label"> {
  return { kind: "label", name, spec: { description, puppet_classes: ["nginx"] } };
}

function create(r: Resource): Change {
  return { op: "create", kind: r.kind, name: r.name, resource: r };
}

function update(r: Resource): Change {
  return { op: "update", kind: r.kind, name: r.name, resource: r, fields: ["description"] };
}

function remove(kind: Resource["kind"], name: string): Change {
  return { op: "delete", kind, name };
}

function summary(c: Change): ChangeSummary {
  return { op: c.op, kind: c.kind, name: c.name, ...(c.fields ? { fields: c.fields } : {}) };
}

function event(n: number, changes: Change[] = []): NewAuditEvent {
  return {
    actor: `user-${n}`,
    action: "apply",
    result: n % 2 ? "error" : "ok",
    summary: `event ${n}`,
    changes: changes.map(summary),
  };
}

/** Writes `changes` (and optionally an event) in one transact. */
function write(store: StateStore, changes: Change[], ev: NewAuditEvent | null = null): Promise<void> {
  return store.transact(() => ({ changes, event: ev, value: undefined }));
}

const names = (rs: Resource[]) => rs.map((r) => `${r.kind}/${r.name}`);

async function expectLabError(promise: Promise<unknown>, code: LabError["code"]): Promise<LabError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a LabError ${code}`).toBeInstanceOf(LabError);
  expect((error as LabError).code).toBe(code);
  return error as LabError;
}

function expectIsoTime(time: string, from: Date, to: Date): void {
  expect(new Date(time).toISOString()).toBe(time);
  expect(Date.parse(time)).toBeGreaterThanOrEqual(from.getTime());
  expect(Date.parse(time)).toBeLessThanOrEqual(to.getTime());
}

// ---------------------------------------------------------------------------------------------

/** Declares the contract suite for one store implementation. */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`StateStore contract: ${name}`, () => {
    let h: StoreHarness;
    let store: KyselyStore;
    let toClean: StoreHarness | undefined;

    beforeEach(async () => {
      h = await factory();
      toClean = h;
      store = h.store;
    });

    afterEach(async () => {
      const harness = toClean;
      toClean = undefined;
      await harness?.cleanup();
    });

    it("an empty store loads nothing, has no events and a stable revision", async () => {
      expect(await store.load()).toEqual([]);
      expect(await store.events()).toEqual([]);
      expect(await store.events({ limit: 5 })).toEqual([]);
      expect(await store.events({ after: 0 })).toEqual([]);
      const revision = await store.revision();
      expect(Number.isSafeInteger(revision)).toBe(true);
      expect(await store.revision()).toBe(revision);
      expect(await store.load()).toEqual([]);
      expect(await store.revision()).toBe(revision);
    });

    it.each(SAMPLES.map((r) => [r.kind, r] as const))(
      "stores a %s exactly as given, with and without an origin",
      async (_kind, sample) => {
        const withOrigin = { ...sample, origin: ORIGIN } as Resource;
        const bare = { ...sample, name: `${sample.name}-bare` } as Resource;
        await write(store, [create(withOrigin), create(bare)]);
        const loaded = await store.load();
        expect(loaded).toStrictEqual([withOrigin, bare]);
        expect("origin" in (loaded[1] as object)).toBe(false);
      },
    );

    it("transact creates, updates and deletes resources", async () => {
      await write(store, [create(label("a")), create(label("b")), create(label("c"))]);
      expect(await store.load()).toStrictEqual([label("a"), label("b"), label("c")]);

      const changedB: Resource = {
        kind: "label",
        name: "b",
        spec: { description: "changed", ports: [8080] },
        origin: ORIGIN,
      };
      await write(store, [update(changedB)]);
      expect(await store.load()).toStrictEqual([label("a"), changedB, label("c")]);

      await write(store, [remove("label", "a"), remove("label", "c")]);
      expect(await store.load()).toStrictEqual([changedB]);

      // Objects of different kinds may share a name.
      const serverB: Resource = { kind: "server", name: "b", spec: { provider: "test" } };
      await write(store, [create(serverB)]);
      await write(store, [remove("label", "b")]);
      expect(await store.load()).toStrictEqual([serverB]);
    });

    it("load() lists resources in first-definition order; an update keeps its place", async () => {
      await write(store, [create(label("m")), create(label("z")), create(label("a"))]);
      await write(store, [create({ kind: "server", name: "s", spec: { provider: "test" } })]);
      expect(names(await store.load())).toEqual(["label/m", "label/z", "label/a", "server/s"]);

      await write(store, [update(label("z", "z2")), update(label("m", "m2"))]);
      const afterUpdate = await store.load();
      expect(names(afterUpdate)).toEqual(["label/m", "label/z", "label/a", "server/s"]);
      expect(afterUpdate[0]).toStrictEqual(label("m", "m2"));
      expect(afterUpdate[1]).toStrictEqual(label("z", "z2"));

      // A deleted object that comes back is new: it goes to the end.
      await write(store, [remove("label", "m"), create(label("b"))]);
      await write(store, [create(label("m", "again"))]);
      expect(names(await store.load())).toEqual(["label/z", "label/a", "server/s", "label/b", "label/m"]);

      // Deleting the last object does not disturb the order of later creates.
      await write(store, [remove("label", "m")]);
      await write(store, [create(label("n")), create(label("c"))]);
      expect(names(await store.load())).toEqual([
        "label/z",
        "label/a",
        "server/s",
        "label/b",
        "label/n",
        "label/c",
      ]);
    });

    it("transact passes decide the current resources and returns its value", async () => {
      await write(store, [create(label("a")), create(label("b"))]);
      let seen: Resource[] = [];
      const value = await store.transact((current) => {
        seen = current;
        return { changes: [], event: null, value: { count: current.length } };
      });
      expect(value).toEqual({ count: 2 });
      expect(seen).toStrictEqual([label("a"), label("b")]);
    });

    it.each([
      { what: "changes and an event", changes: true, event: true, moves: true },
      { what: "changes without an event", changes: true, event: false, moves: true },
      { what: "an event without changes", changes: false, event: true, moves: false },
      { what: "neither changes nor an event", changes: false, event: false, moves: false },
    ])("revision moves only when changes are written: $what", async (row) => {
      await write(store, [create(label("seed"))]);
      const before = await store.revision();
      await store.transact(() => ({
        changes: row.changes ? [create(label("x"))] : [],
        event: row.event ? event(1) : null,
        value: null,
      }));
      const after = await store.revision();
      if (row.moves) expect(after).not.toBe(before);
      else expect(after).toBe(before);
      expect(await store.revision()).toBe(after);
      expect((await store.events()).length).toBe(row.event ? 1 : 0);
      expect(names(await store.load())).toEqual(row.changes ? ["label/seed", "label/x"] : ["label/seed"]);
    });

    it("every write moves the revision to a value it has not had before", async () => {
      const seen = [await store.revision()];
      for (const change of [
        create(label("a")),
        update(label("a", "a2")),
        create(label("b")),
        remove("label", "a"),
        remove("label", "b"),
      ]) {
        await write(store, [change]);
        const r = await store.revision();
        expect(seen).not.toContain(r);
        seen.push(r);
      }
      // Back to the empty set of objects, but not to the empty store's revision.
      expect(await store.load()).toEqual([]);
    });

    it("an event returned by decide is stored with increasing ids, time, actor, result and changes", async () => {
      const start = new Date();
      const changes1 = [create(label("a")), create(label("b"))];
      await write(store, changes1, {
        actor: "alice",
        action: "apply",
        result: "ok",
        summary: "2 created, 0 updated, 0 deleted, 0 unchanged",
        changes: changes1.map(summary),
      });
      const changes2 = [update(label("a", "a2")), remove("label", "b")];
      await write(store, changes2, {
        actor: "bob@example.org",
        action: "delete",
        result: "error",
        summary: "ünïcödé ☃ summary with 'quotes'",
        changes: changes2.map(summary),
      });
      const end = new Date();

      const events = await store.events();
      expect(events).toHaveLength(2);
      const [e1, e2] = events as [AuditEvent, AuditEvent];
      expect(Number.isSafeInteger(e1.id)).toBe(true);
      expect(e2.id).toBeGreaterThan(e1.id);
      expectIsoTime(e1.time, start, end);
      expectIsoTime(e2.time, start, end);
      expect(e2.time >= e1.time).toBe(true);
      expect(e1).toStrictEqual({
        id: e1.id,
        time: e1.time,
        actor: "alice",
        action: "apply",
        result: "ok",
        summary: "2 created, 0 updated, 0 deleted, 0 unchanged",
        changes: [
          { op: "create", kind: "label", name: "a" },
          { op: "create", kind: "label", name: "b" },
        ],
        subjects: ["label/a", "label/b"],
      });
      expect(e2).toStrictEqual({
        id: e2.id,
        time: e2.time,
        actor: "bob@example.org",
        action: "delete",
        result: "error",
        summary: "ünïcödé ☃ summary with 'quotes'",
        changes: [
          { op: "update", kind: "label", name: "a", fields: ["description"] },
          { op: "delete", kind: "label", name: "b" },
        ],
        subjects: ["label/a", "label/b"],
      });
    });

    const QUERIES: { label: string; query: (ids: number[]) => EventQuery; expect: number[] }[] = [
      { label: "{}", query: () => ({}), expect: [0, 1, 2, 3, 4] },
      { label: "{ limit: 2 }", query: () => ({ limit: 2 }), expect: [3, 4] },
      { label: "{ limit: 1 }", query: () => ({ limit: 1 }), expect: [4] },
      { label: "{ limit: 50 }", query: () => ({ limit: 50 }), expect: [0, 1, 2, 3, 4] },
      { label: "{ after: 0 }", query: () => ({ after: 0 }), expect: [0, 1, 2, 3, 4] },
      { label: "{ after: id of #1 }", query: (ids) => ({ after: ids[1] }), expect: [2, 3, 4] },
      { label: "{ after: id of #4 (the last) }", query: (ids) => ({ after: ids[4] }), expect: [] },
      // Paging forward: the oldest N after the cursor.
      {
        label: "{ after: id of #1, limit: 2 }",
        query: (ids) => ({ after: ids[1], limit: 2 }),
        expect: [2, 3],
      },
    ];
    it.each(QUERIES.map((q) => ({ ...q, want: q.expect.map((i) => `#${i}`).join(" ") || "nothing" })))(
      "events($label) returns $want, oldest first",
      async (row) => {
        // Five events #0…#4, alternating between transact and record().
        const recorded: AuditEvent[] = [];
        for (let n = 0; n < 5; n++) {
          if (n % 2) recorded.push(await store.record(event(n)));
          else await write(store, [create(label(`l${n}`))], event(n));
        }
        const all = await store.events();
        expect(all.map((e) => e.summary)).toEqual([0, 1, 2, 3, 4].map((n) => `event ${n}`));
        expect(recorded).toEqual([all[1], all[3]]);
        const got = await store.events(row.query(all.map((e) => e.id)));
        expect(got).toEqual(row.expect.map((i) => all[i]));
      },
    );

    it("if decide throws, nothing is written (no resource, no event, revision unchanged)", async () => {
      await write(store, [create(label("keep"))], event(0));
      const revision = await store.revision();
      const before = await store.load();
      const eventsBefore = await store.events();

      const boom = new Error("decide failed");
      const outcome = store.transact(() => {
        throw boom;
      });
      await expect(outcome).rejects.toBe(boom);

      const refused = new LabError("LAB_E_CONFLICT", "still in use");
      await expect(
        store.transact(() => {
          throw refused;
        }),
      ).rejects.toBe(refused);

      expect(await store.load()).toStrictEqual(before);
      expect(await store.events()).toEqual(eventsBefore);
      expect(await store.revision()).toBe(revision);
      // The store is still usable afterwards.
      await write(store, [create(label("next"))]);
      expect(names(await store.load())).toEqual(["label/keep", "label/next"]);
    });

    it("a failure while writing rolls back the changes already written and the event", async () => {
      await write(store, [create(label("keep"))]);
      const revision = await store.revision();
      // The second change cannot be serialised, after the first has been written.
      const unserialisable = {
        kind: "label",
        name: "bad",
        spec: { description: 1n },
      } as unknown as Resource;
      await expect(
        write(
          store,
          [create(label("first")), update(label("keep", "changed")), create(unserialisable)],
          event(0),
        ),
      ).rejects.toThrow();
      expect(await store.load()).toStrictEqual([label("keep")]);
      expect(await store.events()).toEqual([]);
      expect(await store.revision()).toBe(revision);
    });

    it("record() stores an event on its own", async () => {
      await write(store, [create(label("a"))]);
      const revision = await store.revision();
      const start = new Date();
      const recorded = await store.record({
        actor: "carol",
        action: "apply",
        result: "error",
        summary: "refused: 1 error(s), first LAB_E_REF_LABEL",
        changes: [],
      });
      const second = await store.record(event(2, [create(label("x"))]));
      const end = new Date();

      expect(recorded).toStrictEqual({
        id: recorded.id,
        time: recorded.time,
        actor: "carol",
        action: "apply",
        result: "error",
        summary: "refused: 1 error(s), first LAB_E_REF_LABEL",
        changes: [],
        subjects: [],
      });
      expectIsoTime(recorded.time, start, end);
      expect(second.id).toBeGreaterThan(recorded.id);
      expect(second.changes).toEqual([{ op: "create", kind: "label", name: "x" }]);
      expect(second.subjects).toEqual(["label/x"]);
      expect(await store.events()).toStrictEqual([recorded, second]);
      // Only the event: no objects change and the revision stays.
      expect(names(await store.load())).toEqual(["label/a"]);
      expect(await store.revision()).toBe(revision);
    });

    it("an event's subjects default to the objects its changes name; given subjects are kept", async () => {
      const changes = [
        create(label("a")),
        create({ kind: "server", name: "db-1", spec: { provider: "test" } }),
      ];
      await write(store, changes, event(0, changes));
      await write(store, [remove("label", "a")], { ...event(1), subjects: ["group/all", "label/a"] });
      const recorded = await store.record({ ...event(2), subjects: ["server/db-1"] });
      const defaulted = await store.record(event(3));
      expect((await store.events()).map((e) => e.subjects)).toEqual([
        ["label/a", "server/db-1"],
        ["group/all", "label/a"],
        ["server/db-1"],
        [],
      ]);
      expect(recorded.subjects).toEqual(["server/db-1"]);
      expect(defaulted.subjects).toEqual([]);
    });

    it("concurrent transacts on one store lose no update", async () => {
      const N = 25;
      const values = await Promise.all(Array.from({ length: N }, () => incrementCounter(store, "c", "one")));
      expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(counterValue(await store.load(), "c")).toBe(N);
    });

    it("two stores on the same database serialise read-modify-write transacts (no lost update)", async () => {
      const N = 20;
      await write(store, [create(counterResource("c", 0))]);
      const startWriter =
        h.startWriter ??
        (async (counter: string, times: number, actor: string) => {
          const other = await h.reopen();
          return { done: runCounterWriter(other, counter, times, actor) };
        });
      const peer = await startWriter("c", N, "peer");
      await Promise.all([runCounterWriter(store, "c", N, "main"), peer.done]);

      expect(counterValue(await store.load(), "c")).toBe(2 * N);
      const events = await store.events();
      expect(events.filter((e) => e.actor === "main")).toHaveLength(N);
      expect(events.filter((e) => e.actor === "peer")).toHaveLength(N);
      // Every transact saw the value the one before it wrote: 0 -> 1, 1 -> 2, … in id order.
      expect(events.map((e) => e.summary)).toEqual(
        Array.from({ length: 2 * N }, (_, i) => `c ${i} -> ${i + 1}`),
      );
    });

    it("migrate() is idempotent when reopened", async () => {
      await write(store, [create(label("a"))], event(0));
      const revision = await store.revision();
      const events = await store.events();
      expect(await store.appliedMigrations()).toEqual(MIGRATION_NAMES);

      await store.migrate();
      for (let i = 0; i < 3; i++) {
        const again = await h.reopen();
        await again.migrate();
        expect(await again.appliedMigrations()).toEqual(MIGRATION_NAMES);
        expect(names(await again.load())).toEqual(["label/a"]);
        expect(await again.revision()).toBe(revision);
        expect(await again.events()).toEqual(events);
        await again.close();
      }
      expect(await store.appliedMigrations()).toEqual(MIGRATION_NAMES);
    });

    it("a database with an unknown migration is refused with LAB_E_STORE_TOO_NEW", async () => {
      await write(store, [create(label("a"))]);
      await sql`insert into kysely_migration (name, "timestamp") values (${"9999_from_the_future"}, ${"2099-01-01T00:00:00.000Z"})`.execute(
        store.db,
      );
      const error = await expectLabError(h.reopen(), "LAB_E_STORE_TOO_NEW");
      expect(error.message).toContain("9999_from_the_future");
      await expectLabError(store.migrate(), "LAB_E_STORE_TOO_NEW");
      // Refusing changes nothing.
      expect(await store.appliedMigrations()).toEqual([...MIGRATION_NAMES, "9999_from_the_future"].sort());
      expect(names(await store.load())).toEqual(["label/a"]);
    });

    it.each([
      {
        what: "resource spec that is not valid JSON",
        tamper: sql`update resources set spec = ${'{"description": "cut off'} where name = ${"a"}`,
        read: (s: StateStore) => s.load(),
        breaksLoad: true,
        mentions: "label/a",
      },
      {
        what: "resource origin that is not valid JSON",
        tamper: sql`update resources set origin = ${"not json"} where name = ${"a"}`,
        read: (s: StateStore) => s.load(),
        breaksLoad: true,
        mentions: "label/a",
      },
      {
        what: "resource of an unknown kind",
        tamper: sql`update resources set kind = ${"gadget"} where name = ${"a"}`,
        read: (s: StateStore) => s.load(),
        breaksLoad: true,
        mentions: "gadget/a",
      },
      {
        what: "event whose subjects are not valid JSON",
        tamper: sql`update events set subjects = ${"label/a"}`,
        read: (s: StateStore) => s.events(),
        breaksLoad: false,
        mentions: "event",
      },
      {
        what: "event whose changes are not valid JSON",
        tamper: sql`update events set changes = ${"[{"}`,
        read: (s: StateStore) => s.events(),
        breaksLoad: false,
        mentions: "event",
      },
    ])("a stored $what gives LAB_E_STORE_CORRUPT", async ({ tamper, read, breaksLoad, mentions }) => {
      await write(store, [create({ ...label("a"), origin: ORIGIN }), create(label("b"))], event(0));
      await tamper.execute(store.db);
      const error = await expectLabError(read(store), "LAB_E_STORE_CORRUPT");
      expect(error.message).toContain(mentions);
      // A transact loads first, so it refuses too and writes nothing.
      const revision = await store.revision();
      if (breaksLoad) {
        await expectLabError(
          store.transact(() => ({ changes: [create(label("c"))], event: null, value: 0 })),
          "LAB_E_STORE_CORRUPT",
        );
        expect(await store.revision()).toBe(revision);
      }
    });

    it("keeps each server's latest Puppet run and hands back the one it replaced", async () => {
      const run = (server: string, status: PuppetRun["status"], time: string): PuppetRun => ({
        server,
        certname: `${server}.lab.internal`,
        time,
        status,
        environment: "production",
        configurationVersion: "1",
        puppetVersion: "7.23.0",
        transactionUuid: null,
        noop: false,
        failures: status === "failed" ? [{ resource: "File[/x]", message: "boom" }] : [],
        catalogErrors: [],
        timing: { total: 1.5, configRetrieval: 0.5 },
        resources: { total: 8, changed: 1, failed: status === "failed" ? 1 : 0 },
        receivedAt: time,
      });
      expect(await store.puppetRuns()).toEqual([]);
      expect(await store.putPuppetRun(run("web-1", "changed", "2026-03-15T14:22:03.000Z"))).toBeUndefined();
      const failed = run("web-1", "failed", "2026-03-15T14:52:03.000Z");
      expect((await store.putPuppetRun(failed))?.status).toBe("changed");
      await store.putPuppetRun(run("db-1", "unchanged", "2026-03-15T14:30:00.000Z"));
      expect(await store.puppetRuns()).toStrictEqual([
        run("db-1", "unchanged", "2026-03-15T14:30:00.000Z"),
        failed,
      ]);
      await store.close();
      expect((await (await h.reopen()).puppetRuns()).map((r) => r.status)).toEqual(["unchanged", "failed"]);
    });

    it("data survives close and reopen", async () => {
      await write(
        store,
        [create({ ...SAMPLES[0], origin: ORIGIN } as Resource), ...SAMPLES.slice(1).map(create)],
        event(0),
      );
      await write(store, [update(label("web", "changed")), remove("secret", "db/password")], event(1));
      await store.record(event(2));
      const resources = await store.load();
      const revision = await store.revision();
      const events = await store.events();
      await store.close();

      const reopened = await h.reopen();
      expect(await reopened.load()).toStrictEqual(resources);
      expect(await reopened.revision()).toBe(revision);
      expect(await reopened.events()).toStrictEqual(events);
      // And it keeps working: ids keep increasing, positions keep their order.
      await write(reopened, [create(label("new"))], event(3));
      const after = await reopened.events();
      expect(after).toHaveLength(4);
      expect((after[3] as AuditEvent).id).toBeGreaterThan((after[2] as AuditEvent).id);
      expect(names(await reopened.load())).toEqual([...names(resources), "label/new"]);
    });
  });
}
