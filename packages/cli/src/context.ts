/** Where local state lives and how the CLI reaches an Engine. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir, hostname, userInfo } from "node:os";
import { join, relative, resolve } from "node:path";
import { type Engine, LabError, LabService, type SourceFile } from "@lab/core";
import { RENDERERS } from "@lab/monitor";
import { diskParseCache, type KyselyStore, openSqliteStore } from "@lab/store";
import { HttpClient, HttpEngine, type ServerTarget } from "./http-engine.js";

export function labHome(env = process.env): string {
  return resolve(env.LAB_HOME ?? join(homedir(), ".lab"));
}

export function statePath(env = process.env): string {
  return join(labHome(env), "state.db");
}

/** Shown as `~/.lab/state.db` when under the home directory. */
export function displayPath(path: string): string {
  const home = homedir();
  return path.startsWith(`${home}/`) ? `~/${relative(home, path)}` : path;
}

export function actor(env = process.env): string {
  if (env.LAB_ACTOR) return env.LAB_ACTOR;
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `${user}@${hostname()}`;
}

export interface Session {
  engine: Engine;
  /** The local store (local mode only). */
  store: KyselyStore | null;
  /** The API client (client mode only). */
  remote: HttpClient | null;
  close(): Promise<void>;
}

/** Local mode: the engine in-process over the SQLite file in LAB_HOME. */
export async function openLocal(env = process.env): Promise<Session & { store: KyselyStore }> {
  const store = await openSqliteStore(statePath(env));
  const engine = new LabService(store, actor(env), {
    renderers: RENDERERS,
    parseCache: diskParseCache(join(labHome(env), "cache", "parse")),
  });
  return { engine, store, remote: null, close: () => store.close() };
}

/** Client mode: the same Engine over HTTP. */
export function openRemote(target: ServerTarget): Session {
  const client = new HttpClient(target);
  return { engine: new HttpEngine(client), store: null, remote: client, close: async () => client.close() };
}

const YAML_FILE = /\.ya?ml$/i;

/** Reads `-f` arguments: files, directories (recursively, sorted) or `-` for stdin. */
export function readSources(paths: string[], stdin: () => string): SourceFile[] {
  const out: SourceFile[] = [];
  for (const p of paths) {
    if (p === "-") {
      out.push({ path: "<stdin>", text: stdin() });
      continue;
    }
    if (!existsSync(p)) throw new LabError("LAB_E_FILE_NOT_FOUND", `no such file or directory: ${p}`);
    if (statSync(p).isDirectory()) {
      const found = walk(p).filter((f) => YAML_FILE.test(f));
      if (found.length === 0) {
        throw new LabError("LAB_E_NO_DOCUMENTS", `no .yaml or .yml files under ${p}`);
      }
      for (const f of found) out.push({ path: f, text: readFileSync(f, "utf8") });
    } else {
      out.push({ path: p, text: readFileSync(p, "utf8") });
    }
  }
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      if (e.name.startsWith(".")) return [];
      const full = join(dir, e.name);
      return e.isDirectory() ? walk(full) : [full];
    });
}
