/**
 * YAML text → typed model, with every problem located to file, line and column.
 * Pure: the caller reads the files; this module never touches the file system.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from "yaml";
import type { z } from "zod";
import { type Diagnostic, diagnostic, didYouMean, type Location } from "./errors.js";
import { emptyModel, type Model, type Resource } from "./model.js";
import { type DocumentSpec, documentSchema, KINDS, type Kind, SECTION } from "./schema.js";
import type { Locator } from "./validate.js";

export interface SourceFile {
  path: string;
  text: string;
}

export interface ParseResult {
  model: Model;
  diagnostics: Diagnostic[];
  /** Locates a value inside a parsed object, for reference errors that point at the value. */
  locate: Locator;
}

type YamlDoc = ReturnType<typeof parseAllDocuments>[number] & { errors: unknown[] };
type PathSegment = string | number;

/**
 * What parsing one file produced, kept by content hash so an unchanged file is not parsed
 * and schema-checked again. Values are JSON text: every read gets fresh objects.
 */
export interface ParseCache {
  /** Keyed by the file's path and text, and PARSE_VERSION. */
  get(file: SourceFile): string | undefined;
  set(file: SourceFile, value: string): void;
}

/**
 * Changes whenever what parsing produces changes (schema, diagnostics), so a cache written by
 * an older Lab is never read as current.
 */
export const PARSE_VERSION = "lab-parse-2";

interface FileResult {
  resources: Resource[];
  diagnostics: Diagnostic[];
}

type NodeInfo = { node: unknown; at: (offset: number) => Location };

/**
 * Parses and schema-checks every file, merging their objects; duplicates are errors. With a
 * cache, a file whose path and text were parsed before is read from it (`cached` counts them);
 * its YAML is parsed again only if a later check needs to point inside one of its objects.
 */
export function parseSources(files: SourceFile[], cache?: ParseCache): ParseResult & { cached: number } {
  const model = emptyModel();
  const diagnostics: Diagnostic[] = [];
  const nodes = new WeakMap<Resource, NodeInfo>();
  /** Files read from the cache, by resource: parsed again (once) when asked to locate inside. */
  const fromCache = new WeakMap<Resource, SourceFile>();
  let cached = 0;
  for (const file of files) {
    const hit = cache && readCached(cache, file);
    let result: FileResult;
    if (hit) {
      cached++;
      result = hit;
      for (const r of hit.resources) fromCache.set(r, file);
    } else {
      const fileNodes = new Map<Resource, NodeInfo>();
      result = parseFile(file, fileNodes);
      for (const [r, n] of fileNodes) nodes.set(r, n);
      cache?.set(file, JSON.stringify(result));
    }
    diagnostics.push(...result.diagnostics);
    for (const resource of result.resources) {
      const map = model[resource.kind] as Map<string, Resource>;
      const existing = map.get(resource.name);
      if (existing) diagnostics.push(duplicate(resource, existing));
      else map.set(resource.name, resource);
    }
  }
  const reparsed = new Map<SourceFile, Map<string, NodeInfo>>();
  const nodeOf = (resource: Resource): NodeInfo | undefined => {
    const found = nodes.get(resource);
    const file = fromCache.get(resource);
    if (found || !file) return found;
    let byName = reparsed.get(file);
    if (!byName) {
      const fileNodes = new Map<Resource, NodeInfo>();
      parseFile(file, fileNodes);
      byName = new Map([...fileNodes].map(([r, n]) => [`${r.kind}\u0000${r.name}`, n]));
      reparsed.set(file, byName);
    }
    return byName.get(`${resource.kind}\u0000${resource.name}`);
  };
  const locateIn: Locator = (resource, path) => {
    const found = nodeOf(resource);
    return found ? locate(found.node, path, found.at, false) : resource.origin;
  };
  return { model, diagnostics, locate: locateIn, cached };
}

/** A cached result, or undefined when there is none or it does not read back (then: parse). */
function readCached(cache: ParseCache, file: SourceFile): FileResult | undefined {
  const text = cache.get(file);
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as FileResult;
    return Array.isArray(r.resources) && Array.isArray(r.diagnostics) ? r : undefined;
  } catch {
    return undefined;
  }
}

function duplicate(resource: Resource, existing: Resource): Diagnostic {
  return diagnostic(
    "LAB_E_DUPLICATE_NAME",
    `${resource.kind} "${resource.name}" is defined twice: here and at ${where(existing.origin)}`,
    resource.origin,
    existing.origin ? [existing.origin] : [],
  );
}

/** One file on its own: its objects in order, its diagnostics, and where each object's YAML is. */
function parseFile(file: SourceFile, nodes: Map<Resource, NodeInfo>): FileResult {
  const model = emptyModel();
  const resources: Resource[] = [];
  const diagnostics: Diagnostic[] = [];
  const lines = new LineCounter();
  const parsed = parseAllDocuments(file.text, { lineCounter: lines, prettyErrors: false });
  const docs = (Array.isArray(parsed) ? parsed : [parsed]) as YamlDoc[];
  for (const doc of docs) {
    const at = (offset: number): Location => {
      const pos = lines.linePos(offset);
      return { file: file.path, line: pos.line, column: pos.col };
    };
    const yamlErrors = doc.errors as { message: string; pos: [number, number] }[];
    const first = yamlErrors[0];
    if (first) {
      // Later syntax errors in a document are usually echoes of the first.
      diagnostics.push(diagnostic("LAB_E_YAML_SYNTAX", firstLine(first.message), at(first.pos[0])));
      continue;
    }
    const raw = doc.toJS({ maxAliasCount: 1000 }) as unknown;
    if (raw === null || raw === undefined) continue; // an empty document (e.g. a trailing ---)
    const result = documentSchema.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const found = issueDiagnostics(issue, doc, raw, at);
        // A bad price table has its own code (its hint says where price tables live).
        if (issue.path[0] === "prices") for (const d of found) d.code = "LAB_E_PRICES";
        diagnostics.push(...found);
      }
    }
    // Objects that passed are still collected, so references to them resolve and one
    // broken object does not hide every other problem behind "unknown label".
    collect(doc, raw, result.success ? result.data : undefined, model, diagnostics, at, nodes, resources);
  }
  return { resources, diagnostics };
}

/** Adds each object of one document to the model; a name seen before is a duplicate. */
function collect(
  doc: YamlDoc,
  raw: unknown,
  parsed: DocumentSpec | undefined,
  model: Model,
  diagnostics: Diagnostic[],
  at: (offset: number) => Location,
  nodes: Map<Resource, NodeInfo>,
  resources: Resource[],
): void {
  if (!isRecord(raw)) return;
  for (const kind of KINDS) {
    const section = SECTION[kind];
    const rawSection = raw[section];
    const entries: [string, PathSegment, unknown][] = [];
    if (kind === "alert") {
      if (!Array.isArray(rawSection)) continue;
      rawSection.forEach((item, i) => {
        if (isRecord(item) && typeof item.name === "string") entries.push([item.name, i, item]);
      });
    } else {
      if (!isRecord(rawSection)) continue;
      for (const [name, value] of Object.entries(rawSection)) entries.push([name, name, value]);
    }
    const parsedSection = parsed?.[section] as unknown;
    for (const [name, key, rawValue] of entries) {
      const origin = locate(doc.contents, [section, key], at, true);
      const spec = parsed
        ? Array.isArray(parsedSection)
          ? parsedSection[key as number]
          : (parsedSection as Record<string, unknown>)[name]
        : lenientSpec(kind, rawValue);
      if (spec === undefined) continue;
      const map = model[kind] as Map<string, Resource>;
      const existing = map.get(name);
      const resource = { kind, name, spec, origin } as Resource;
      if (existing) {
        diagnostics.push(duplicate(resource, existing));
        continue;
      }
      map.set(name, resource);
      resources.push(resource);
      nodes.set(resource, { node: nodeAt(doc.contents, [section, key]), at });
    }
  }
}

/**
 * When a document has schema errors, its objects are still registered for reference checks,
 * each parsed on its own so the valid ones keep their normalised shape.
 */
function lenientSpec(kind: Kind, raw: unknown): unknown {
  const section = documentSchema.shape[SECTION[kind]];
  const wrapped = kind === "alert" ? [raw] : { x: raw === null ? {} : raw };
  const r = (section as z.ZodType).safeParse(wrapped);
  if (!r.success) return undefined;
  return kind === "alert" ? (r.data as unknown[])[0] : (r.data as Record<string, unknown>).x;
}

function issueDiagnostics(
  issue: z.core.$ZodIssue,
  doc: YamlDoc,
  raw: unknown,
  at: (offset: number) => Location,
): Diagnostic[] {
  const path = issue.path as PathSegment[];
  const dotted = path.join(".");
  if (issue.code === "unrecognized_keys") {
    const known = keysAt(path);
    return issue.keys.map((key) => {
      const hint = didYouMean(key, known);
      const context = dotted ? ` in ${dotted}` : "";
      return diagnostic(
        "LAB_E_SCHEMA_UNKNOWN_KEY",
        `unknown key "${key}"${context}${hint ? ` (did you mean "${hint}"?)` : ` (known: ${known.join(", ")})`}`,
        locate(doc.contents, [...path, key], at, true),
      );
    });
  }
  if (issue.code === "invalid_key") {
    // A map key broke its rule (a server name that is not a host name): say the rule, at the key.
    const message = issue.issues[0]?.message ?? issue.message;
    return [diagnostic("LAB_E_SCHEMA_VALUE", `${dotted}: ${message}`, locate(doc.contents, path, at, true))];
  }
  const value = valueAt(raw, path);
  if (value === undefined) {
    return [
      diagnostic(
        "LAB_E_SCHEMA_REQUIRED",
        `${dotted} is required: ${issue.message}`,
        locate(doc.contents, path, at, false),
      ),
    ];
  }
  const code =
    issue.code === "invalid_type" || issue.code === "invalid_union"
      ? "LAB_E_SCHEMA_TYPE"
      : "LAB_E_SCHEMA_VALUE";
  return [diagnostic(code, `${dotted}: ${issue.message}`, locate(doc.contents, path, at, false))];
}

function nodeAt(root: unknown, path: PathSegment[]): unknown {
  let node = root;
  for (const seg of path) {
    if (isMap(node)) node = node.get(seg, true);
    else if (isSeq(node) && typeof seg === "number") node = node.items[seg];
    else return undefined;
  }
  return node;
}

/** The location of the node at `path` (or its key), or of its nearest existing ancestor. */
function locate(
  root: unknown,
  path: PathSegment[],
  at: (offset: number) => Location,
  wantKey: boolean,
): Location {
  let node: unknown = root;
  let best: Node | undefined = node as Node;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) break;
      if (last && wantKey) {
        best = pair.key as Node;
        break;
      }
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
    } else {
      break;
    }
    if (node && (node as Node).range) best = node as Node;
    else break;
  }
  const offset = best?.range?.[0] ?? 0;
  return at(offset);
}

/** Keys the schema allows for the object at `path` in a document. */
function keysAt(path: PathSegment[]): string[] {
  let schema: unknown = documentSchema;
  for (const seg of path) {
    schema = unwrap(schema);
    const def = defOf(schema);
    if (def?.type === "object") schema = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def?.type === "record") schema = def.valueType;
    else if (def?.type === "array") schema = def.element;
    else return [];
  }
  const def = defOf(unwrap(schema));
  return def?.type === "object" ? Object.keys(def.shape as object) : [];
}

function unwrap(schema: unknown): unknown {
  for (;;) {
    const def = defOf(schema);
    if (!def) return schema;
    if (def.type === "optional" || def.type === "nullable") schema = def.innerType;
    else if (def.type === "pipe") schema = defOf(def.in)?.type === "transform" ? def.out : def.in;
    else if (def.type === "union") {
      const options = def.options as unknown[];
      schema = options.find((o) => defOf(o)?.type === "object") ?? options[0];
    } else return schema;
  }
}

function defOf(schema: unknown): Record<string, unknown> | undefined {
  return (schema as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
}

function valueAt(raw: unknown, path: PathSegment[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[seg as string];
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

function where(loc: Location | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.column}` : "(stored state)";
}
