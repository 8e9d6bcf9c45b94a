#!/usr/bin/env node
/**
 * What-if experiments: the suggestions in ANALYSIS.md, tried on patched copies of the bundle
 * (never on the sources), each measured with run.mjs in short runs. Every patch is a crude
 * stand-in that ignores correctness (no cache invalidation, no revocation check): it shows
 * how much a fix could buy, not how to write it.
 *
 *   node bench/api/whatif.mjs [--check] [VARIANT...]   (after `npm run build`; ~1 min per variant;
 *                                                      --check only builds the patched bundles)
 *
 * Run by default (for builds from b85260d on, which cache verdicts and responses):
 *   base         dist/ as built
 *   no-revision  revision() answered from memory after its first query (= the revision kept in
 *                memory and bumped by the event feed, instead of a Kysely SELECT per request)
 *   buffer       the response cache keeps Buffers instead of strings (no UTF-8 encoding of the
 *                body on every send)
 *   fast         no-revision + buffer
 *   ws-cork      every WebSocket corked until the end of the current synchronous batch, and
 *                the event feed yielding to the event loop between pages of 1,000 events
 * By name only (they target builds before b85260d; patches whose code is gone are skipped):
 *   no-touch     touchToken() returns at once (= last-used times batched off the request path)
 *   no-db        + revision() and findTokenByHash() answered from memory
 *   cached       + GET /api/v1/servers[/NAME] answered from a cache of serialized JSON and the
 *                principal cached per Authorization header
 *
 * A patch group applies whole or not at all; the table says which groups applied. Writes
 * out/whatif/<variant>.json (run.mjs's results) and out/whatif/results.md.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const OUT = join(HERE, "out", "whatif");

/** JS source text with template placeholders written %{…} (so the text here stays a plain string). */
const js = (text) => text.replaceAll("%{", "${");

/**
 * [old, new]: old (text, or a global RegExp whose groups new may use as $1…) must occur exactly
 * once in the bundle lab.js loads.
 */
const PATCHES = {
  touch: [["async touchToken(id, at) {\n", "async touchToken(id, at) {\n    return;\n"]],
  "memo-revision": [
    [
      "  async revision() {\n",
      "  async revision() {\n    if (this.__rev !== undefined) return this.__rev;\n",
    ],
    [
      '.where("key", "=", "revision").executeTakeFirst()\n    );\n    return Number(row?.value ?? 0);',
      '.where("key", "=", "revision").executeTakeFirst()\n    );\n    return this.__rev = Number(row?.value ?? 0);',
    ],
  ],
  "memo-token": [
    [
      // esbuild may rename the parameter (hash, hash2, …).
      / {2}async findTokenByHash\((\w+)\) \{\n([\s\S]*?)\n {4}return row \? toToken\(row\) : void 0;\n {2}\}/g,
      js(
        "  async findTokenByHash($1) {\n    if ((this.__tok ??= new Map()).has($1)) return this.__tok.get($1);\n$2\n" +
          "    const __r = row ? toToken(row) : void 0;\n    this.__tok.set($1, __r);\n    return __r;\n  }",
      ),
    ],
  ],
  cache: [
    [
      js(
        "  const auth = (scope) => async (req) => {\n    const principal = await authenticate(store, req.headers.authorization);",
      ),
      js(
        "  const __auth = new Map();\n  const __cache = new Map();\n  const auth = (scope) => async (req) => {\n    let principal = __auth.get(req.headers.authorization);\n    if (!principal) { principal = await authenticate(store, req.headers.authorization); __auth.set(req.headers.authorization, principal); }",
      ),
    ],
    [
      js(
        '    app.get(`/api/v1/%{plural}`, { preHandler: auth("read") }, async (req) => {\n      const q = parse(filterQuerySchema, req.query);\n      return deps.engine.list(kind, { filter: toFilter(q), wide: q.wide === "true" });',
      ),
      js(
        '    app.get(`/api/v1/%{plural}`, { preHandler: auth("read") }, async (req, reply) => {\n      const q = parse(filterQuerySchema, req.query);\n      const __k = `list %{kind} %{req.url}`;\n      let __b = __cache.get(__k);\n      if (!__b) { __b = Buffer.from(JSON.stringify(await deps.engine.list(kind, { filter: toFilter(q), wide: q.wide === "true" }))); __cache.set(__k, __b); }\n      return reply.type("application/json; charset=utf-8").send(__b);',
      ),
    ],
    [
      js(
        '    app.get(`/api/v1/%{plural}/:name`, { preHandler: auth("read") }, async (req) => {\n      const { name } = req.params;\n      return deps.engine.show(kind, name);',
      ),
      js(
        '    app.get(`/api/v1/%{plural}/:name`, { preHandler: auth("read") }, async (req, reply) => {\n      const { name } = req.params;\n      const __k = `show %{kind} %{name}`;\n      let __b = __cache.get(__k);\n      if (!__b) { __b = Buffer.from(JSON.stringify(await deps.engine.show(kind, name))); __cache.set(__k, __b); }\n      return reply.type("application/json; charset=utf-8").send(__b);',
      ),
    ],
  ],
  buffer: [
    [
      "    const body = JSON.stringify(await compute());\n",
      "    const body = Buffer.from(JSON.stringify(await compute()));\n",
    ],
  ],
  cork: [
    [
      "function wsTransport(socket) {\n  return {\n    send(message) {\n      if (socket.readyState !== 1) return true;\n",
      "function wsTransport(socket) {\n  let __corked = false;\n  return {\n    send(message) {\n      if (socket.readyState !== 1) return true;\n      if (!__corked && socket._socket) {\n        __corked = true;\n        socket._socket.cork();\n        queueMicrotask(() => { __corked = false; socket._socket.uncork(); });\n      }\n",
    ],
    [
      "        if (events.length < PAGE) return;\n      }",
      "        if (events.length < PAGE) return;\n        await new Promise((r) => setImmediate(r));\n      }",
    ],
  ],
};

const VARIANTS = {
  base: [],
  "no-revision": ["memo-revision"],
  buffer: ["buffer"],
  fast: ["memo-revision", "buffer"],
  "ws-cork": ["cork"],
  "no-touch": ["touch"],
  "no-db": ["touch", "memo-token", "memo-revision"],
  cached: ["touch", "memo-token", "memo-revision", "cache"],
};
const DEFAULT_VARIANTS = ["base", "no-revision", "buffer", "fast", "ws-cork"];

function jsFiles(dir) {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".js"))
    .map((f) => join(dir, f));
}

/** Builds the variant's bundle; returns {dir, applied, skipped} (patch groups). */
function makeVariant(name) {
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(SNAPSHOT, dir, { recursive: true });
  // Only the chunks lab.js loads count (dist/ may hold stale ones from earlier builds).
  const loaded = jsFiles(dir).filter((f) => isLoaded(dir, f));
  const applied = [];
  const skipped = [];
  for (const group of VARIANTS[name]) {
    const texts = new Map(loaded.map((f) => [f, readFileSync(f, "utf8")]));
    let ok = true;
    for (const [oldText, newText] of PATCHES[group]) {
      const hits = [...texts].filter(([, text]) =>
        typeof oldText === "string" ? text.includes(oldText) : text.search(oldText) >= 0,
      );
      const count = (text) =>
        typeof oldText === "string" ? text.split(oldText).length - 1 : [...text.matchAll(oldText)].length;
      if (hits.length !== 1 || count(hits[0][1]) !== 1) {
        process.stderr.write(
          `${name}: patch group "${group}" skipped: its target is not in this build exactly once (${hits.length} files):\n${oldText}\n`,
        );
        ok = false;
        break;
      }
      const [f, text] = hits[0];
      texts.set(
        f,
        typeof oldText === "string" ? text.replace(oldText, () => newText) : text.replace(oldText, newText),
      );
    }
    if (!ok) {
      skipped.push(group);
      continue;
    }
    for (const [f, text] of texts) if (text !== readFileSync(f, "utf8")) writeFileSync(f, text);
    applied.push(group);
  }
  return { dir, applied, skipped };
}

/** Is `file` reachable from dir/lab.js through static or dynamic imports? */
function isLoaded(dir, file) {
  const seen = new Set();
  const walk = (f) => {
    if (seen.has(f) || !existsSync(f)) return;
    seen.add(f);
    for (const m of readFileSync(f, "utf8").matchAll(/(?:from|import\()\s*["'](\.\.?\/[^"']+\.js)["']/g)) {
      walk(resolve(dirname(f), m[1]));
    }
  };
  walk(join(dir, "lab.js"));
  return seen.has(resolve(file));
}

const CHECK = process.argv.includes("--check");
const args = process.argv.slice(2).filter((a) => a !== "--check");
const names = args.length ? args : DEFAULT_VARIANTS;
mkdirSync(OUT, { recursive: true });
// One copy of dist/ for every variant, so a rebuild during the runs cannot mix builds.
const SNAPSHOT = join(OUT, "_dist");
rmSync(SNAPSHOT, { recursive: true, force: true });
if (!existsSync(join(ROOT, "dist", "lab.js"))) throw new Error("no dist/lab.js: run `npm run build` first");
cpSync(join(ROOT, "dist"), SNAPSHOT, { recursive: true });
// run.mjs writes out/results.{json,md}: keep the last real run's files.
const kept = ["results.json", "results.md"].filter((f) => existsSync(join(HERE, "out", f)));
for (const f of kept) copyFileSync(join(HERE, "out", f), join(OUT, `_kept-${f}`));
process.on("exit", () => {
  for (const f of kept) copyFileSync(join(OUT, `_kept-${f}`), join(HERE, "out", f));
});
const rows = [];
for (const name of names) {
  if (!VARIANTS[name]) throw new Error(`unknown variant ${name} (${Object.keys(VARIANTS).join(", ")})`);
  const { dir, applied, skipped } = makeVariant(name);
  if (CHECK) {
    process.stderr.write(
      `${name}: applied ${applied.join(", ") || "nothing"}; skipped ${skipped.join(", ") || "nothing"}\n`,
    );
    continue;
  }
  process.stderr.write(`\n== ${name}\n`);
  const r = spawnSync(process.execPath, [join(HERE, "run.mjs")], {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      API_BENCH_CLI: dir,
      API_BENCH_NO_RESULTS: "1",
      API_BENCH_PROFILE: "0",
      API_BENCH_FASTIFY: "0",
      API_BENCH_DURATION: process.env.API_BENCH_DURATION ?? "5",
      API_BENCH_ROUNDS: process.env.API_BENCH_ROUNDS ?? "2",
      API_BENCH_WARMUP: process.env.API_BENCH_WARMUP ?? "1",
      API_BENCH_WS_APPLY_SECONDS: process.env.API_BENCH_WS_APPLY_SECONDS ?? "2",
    },
  });
  if (r.status !== 0) throw new Error(`run.mjs failed for ${name}`);
  copyFileSync(join(HERE, "out", "results.json"), join(OUT, `${name}.json`));
  const R = JSON.parse(readFileSync(join(OUT, `${name}.json`), "utf8"));
  rows.push({ name, R, applied, skipped });
  rmSync(dir, { recursive: true, force: true }); // ~30 MB of bundle per variant
}

const f = (n, d = 0) =>
  n == null ? "—" : n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const lines = [
  `What-if runs, ${new Date().toISOString().slice(0, 16)} UTC (bench/api/whatif.mjs; patched bundles, each measured with run.mjs side by side with bare node):`,
  "",
  "| variant (patch groups applied) | GET one req/s | ÷ bare | CPU µs/req (bare) | GET list req/s | ÷ bare | CPU µs/req (bare) | WS burst msg/s | not delivered | server CPU µs/msg |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const { name, R, applied, skipped } of rows) {
  const one = R.http.routes.one;
  const list = R.http.routes.list;
  const b = R.ws.burst;
  lines.push(
    `| ${name} (${applied.join(", ") || "—"}${skipped.length ? `; skipped ${skipped.join(", ")}` : ""}) | ` +
      `${f(one.lab.rps)} | ${f(one.ratio, 3)}× | ${f(one.lab.cpuUsPerRequest)} (${f(one.bare.cpuUsPerRequest)}) | ` +
      `${f(list.lab.rps)} | ${f(list.ratio, 3)}× | ${f(list.lab.cpuUsPerRequest)} (${f(list.bare.cpuUsPerRequest)}) | ` +
      `${f(b.deliveredPerSecond)} | ${f(b.notDeliveredAll ?? b.notDelivered)} | ${f(b.serverUsPerMessage, 1)} |`,
  );
}
if (!CHECK) {
  rmSync(SNAPSHOT, { recursive: true, force: true });
  writeFileSync(join(OUT, "results.md"), `${lines.join("\n")}\n`);
  process.stdout.write(`\n${lines.join("\n")}\n`);
}
