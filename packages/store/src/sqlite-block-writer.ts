/**
 * Log blocks into SQLite from a worker thread with its own connection, so the megabytes of
 * a busy log stream are written without blocking the server's event loop. The worker is
 * small and evaluated from source (the bundle needs no second entry point); it loads the
 * same better-sqlite3 the store uses.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Insertable } from "kysely";
import type { LogBlockTable } from "./schema.js";

export interface BlockWriter {
  append(row: Insertable<LogBlockTable>): Promise<void>;
  close(): Promise<void>;
}

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 5000 });
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
const insert = db.prepare(
  "insert into log_blocks (first_seq, last_seq, count, min_time_ms, max_time_ms, stats, body) " +
  "values (@first_seq, @last_seq, @count, @min_time_ms, @max_time_ms, @stats, @body) on conflict (first_seq) do nothing");
parentPort.on("message", (m) => {
  if (m.close) { db.close(); parentPort.close(); return; }
  try { insert.run(m.row); parentPort.postMessage({ id: m.id }); }
  catch (e) { parentPort.postMessage({ id: m.id, error: String(e && e.message || e) }); }
});
`;

export function sqliteBlockWriter(path: string): BlockWriter {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  let worker: Worker | undefined;
  let next = 0;
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const start = (): Worker => {
    const w = new Worker(WORKER, { eval: true, workerData: { path, driver } });
    w.on("message", (m: { id?: number; error?: string }) => {
      if (m.id === undefined) return;
      const p = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve();
    });
    // A dead worker fails what it held; the next append starts a new one.
    const fail = (e: Error) => {
      for (const p of waiting.values()) p.reject(e);
      waiting.clear();
      if (worker === w) worker = undefined;
    };
    w.on("error", fail);
    w.on("exit", (code) => fail(new Error(`the log writer thread exited (${code})`)));
    w.unref();
    return w;
  };
  return {
    append(row) {
      worker ??= start();
      const id = next++;
      const done = new Promise<void>((resolve, reject) => waiting.set(id, { resolve, reject }));
      worker.postMessage({ id, row });
      return done;
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (!w) return;
      await new Promise<void>((resolve) => {
        w.once("exit", () => resolve());
        w.postMessage({ close: true });
        setTimeout(() => void w.terminate(), 5000).unref();
      });
    },
  };
}
