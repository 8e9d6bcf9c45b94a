/**
 * Finds `lab::secret('…')` in Puppet code: the call is both the use and the access grant.
 *
 * A small lexer, not a grammar: enough of Puppet's syntax that only real calls count.
 * Comments (`#`, `/* … *\/`), single- and double-quoted strings, heredocs (`@(END)` … `END`)
 * and regular expressions after `=~`/`!~` are skipped; code inside `"${…}"` is code, so a call
 * there counts. Calls are attributed to the class (or defined type) whose body they are in,
 * and `include`/`contain`/`require`, `class { 'x': }` and `x::y { … }` resources record which
 * other classes a class brings in (their secrets come with it).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export interface CallSite {
  secret: string;
  /** Relative to the module path entry it was found under, e.g. postfix/manifests/init.pp. */
  file: string;
  line: number;
  column: number;
}

export interface ClassCode {
  name: string;
  file: string;
  line: number;
  calls: CallSite[];
  /** Classes and defined types this one declares or includes. */
  includes: string[];
}

export interface ScanProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface CodeIndex {
  scanned: boolean;
  modulePath: string[];
  classes: Map<string, ClassCode>;
  problems: ScanProblem[];
}

const FUNCTION = "lab::secret";
const NAME = /^(::)?[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)*/i;
const INCLUDERS = new Set(["include", "contain", "require"]);

type Token =
  | { t: "name"; v: string; at: number }
  | { t: "str"; v: string; interpolated: boolean; at: number }
  | { t: "punct"; v: string; at: number };

/** Scans every `*.pp` under `<entry>/<module>/manifests/` of each module path entry. */
export function scanModulePath(modulePath: string[]): CodeIndex {
  const index: CodeIndex = { scanned: true, modulePath, classes: new Map(), problems: [] };
  for (const root of modulePath) {
    let modules: string[];
    try {
      modules = readdirSync(root).sort();
    } catch (e) {
      index.problems.push({
        file: root,
        line: 0,
        column: 0,
        message: `module path entry unreadable (${(e as NodeJS.ErrnoException).code})`,
      });
      continue;
    }
    for (const mod of modules) {
      for (const file of manifests(join(root, mod, "manifests"))) {
        scanManifest(readFileSync(file, "utf8"), relative(root, file), index);
      }
    }
  }
  return index;
}

function manifests(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return manifests(p);
    return e.endsWith(".pp") ? [p] : [];
  });
}

/** Adds the classes one manifest defines (with their calls) to `index`. */
export function scanManifest(text: string, file: string, index: CodeIndex): void {
  const lines = lineStarts(text);
  const where = (at: number) => position(lines, at);
  const problem = (at: number, message: string) => index.problems.push({ file, ...where(at), message });
  const tokens = tokenize(text, (at, m) => problem(at, m));

  // Open class bodies: the class, and the brace depth its body started at.
  const stack: { cls: ClassCode; depth: number }[] = [];
  let depth = 0;
  let pending: ClassCode | undefined;
  let parens = 0;
  const current = () => stack[stack.length - 1]?.cls;
  const use = (name: string) => {
    const cls = current();
    const n = norm(name);
    if (cls && n !== cls.name && !cls.includes.includes(n)) cls.includes.push(n);
  };

  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    const next = tokens[i + 1];
    if (tok.t === "punct") {
      if (tok.v === "(") parens++;
      else if (tok.v === ")") parens = Math.max(0, parens - 1);
      else if (tok.v === "{") {
        depth++;
        if (pending && parens === 0) {
          stack.push({ cls: pending, depth });
          pending = undefined;
        }
      } else if (tok.v === "}") {
        if (stack.length && stack[stack.length - 1]?.depth === depth) stack.pop();
        depth = Math.max(0, depth - 1);
      }
      continue;
    }
    if (tok.t !== "name") continue;
    const word = tok.v.toLowerCase();
    if ((word === "class" || word === "define") && next?.t === "name") {
      // `class name (…) inherits x {`: the body is the next top-level brace.
      const name = norm(next.v);
      pending = { name, file, line: where(next.at).line, calls: [], includes: [] };
      if (!index.classes.has(name)) index.classes.set(name, pending);
      else pending = index.classes.get(name);
      parens = 0;
      i++;
      continue;
    }
    if (word === "class" && next?.t === "punct" && next.v === "{") {
      // Resource-like declaration: class { 'postfix::relay': … }
      const title = tokens[i + 2];
      if (title?.t === "str" && !title.interpolated) use(title.v);
      continue;
    }
    if (INCLUDERS.has(word)) {
      // include a, b  |  include('a')  |  contain a::b
      let j = i + 1;
      if (tokens[j]?.t === "punct" && tokens[j]?.v === "(") j++;
      for (; j < tokens.length; j++) {
        const t = tokens[j] as Token;
        if (t.t === "name" && !isKeyword(t.v)) use(t.v);
        else if (t.t === "str" && !t.interpolated) use(t.v);
        else break;
        if (tokens[j + 1]?.t === "punct" && tokens[j + 1]?.v === ",") j++;
        else break;
      }
      continue;
    }
    if (norm(tok.v) === FUNCTION) {
      if (next?.t !== "punct" || next.v !== "(") continue; // a mention, not a call
      const arg = tokens[i + 2];
      const close = tokens[i + 3];
      if (
        arg?.t === "str" &&
        !arg.interpolated &&
        close?.t === "punct" &&
        (close.v === ")" || close.v === ",")
      ) {
        const cls = current();
        if (cls) cls.calls.push({ secret: arg.v, file, ...where(tok.at) });
        else problem(tok.at, `lab::secret('${arg.v}') outside any class or defined type: it grants nothing`);
      } else {
        problem(tok.at, "lab::secret() with a computed name: Lab cannot tell which secret it reads");
      }
      continue;
    }
    // `postfix::relay { 'x': … }` declares a defined type (or a class's resource).
    if (tok.v.includes("::") && next?.t === "punct" && next.v === "{" && current()) use(tok.v);
  }
}

function isKeyword(word: string): boolean {
  return ["if", "unless", "else", "elsif", "case", "class", "define", "node", "and", "or", "in"].includes(
    word.toLowerCase(),
  );
}

function norm(name: string): string {
  return name.replace(/^::/, "").toLowerCase();
}

/** Puppet tokens, with comments, string contents, heredoc bodies and regexes skipped. */
function tokenize(
  text: string,
  problem: (at: number, message: string) => void,
  start = 0,
  stop = text.length,
): Token[] {
  const out: Token[] = [];
  const heredocs: { tag: string; at: number }[] = [];
  let i = start;
  let last: Token | undefined;
  const push = (t: Token) => {
    out.push(t);
    last = t;
  };
  while (i < stop) {
    const c = text[i] as string;
    if (c === "\n") {
      i++;
      // Heredoc bodies start on the line after their @(TAG), in order.
      while (heredocs.length) {
        const h = heredocs.shift() as { tag: string; at: number };
        const end = heredocEnd(text, i, h.tag);
        if (end < 0) {
          problem(h.at, `heredoc @(${h.tag}) never ends`);
          return out;
        }
        i = end;
      }
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) {
        problem(i, "comment /* never ends");
        return out;
      }
      i = end + 2;
      continue;
    }
    if (c === "/" && last?.t === "punct" && (last.v === "=~" || last.v === "!~")) {
      i = skipRegex(text, i + 1);
      continue;
    }
    if (c === "'") {
      const begin = i;
      let v = "";
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === "\\" && (text[i + 1] === "'" || text[i + 1] === "\\")) i++;
        v += text[i];
        i++;
      }
      if (i >= text.length) problem(begin, "string ' never ends");
      i++;
      push({ t: "str", v, interpolated: false, at: begin });
      continue;
    }
    if (c === '"') {
      const begin = i;
      let v = "";
      let interpolated = false;
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") {
          v += text[i + 1] ?? "";
          i += 2;
          continue;
        }
        if (text[i] === "$") interpolated = true;
        if (text[i] === "$" && text[i + 1] === "{") {
          const end = matchingBrace(text, i + 1);
          if (end < 0) break;
          // Interpolated code is code: a call in "${lab::secret('x')}" counts.
          for (const t of tokenize(text, problem, i + 2, end)) push(t);
          v += text.slice(i, end + 1);
          i = end + 1;
          continue;
        }
        v += text[i];
        i++;
      }
      if (i >= text.length) problem(begin, 'string " never ends');
      i++;
      push({ t: "str", v, interpolated, at: begin });
      continue;
    }
    if (c === "@" && text[i + 1] === "(") {
      const close = text.indexOf(")", i);
      const spec = close > 0 ? text.slice(i + 2, close) : "";
      const tag = spec.split(":")[0]?.split("/")[0]?.replace(/"/g, "").trim() ?? "";
      if (!tag) {
        push({ t: "punct", v: "@", at: i });
        i++;
        continue;
      }
      heredocs.push({ tag, at: i });
      push({ t: "str", v: "", interpolated: spec.includes('"'), at: i });
      i = close + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i, i + 256));
    if (m && (c === ":" || /[a-z]/i.test(c))) {
      push({ t: "name", v: m[0], at: i });
      i += m[0].length;
      continue;
    }
    if (c === "$") {
      // A variable: $name, $::name, $facts['x'] (the index is read as code after it).
      const v = /^\$(::)?[a-z0-9_]+(::[a-z0-9_]+)*/i.exec(text.slice(i, i + 256));
      i += v ? v[0].length : 1;
      last = { t: "punct", v: "$", at: i };
      continue;
    }
    const two = text.slice(i, i + 2);
    if (["=~", "!~", "=>", "->", "~>", "==", "!=", "<=", ">=", "+>", "<<", ">>"].includes(two)) {
      push({ t: "punct", v: two, at: i });
      i += 2;
      continue;
    }
    push({ t: "punct", v: c, at: i });
    i++;
  }
  return out;
}

/** The offset just after the heredoc's end line (`  | - TAG`), or -1. */
function heredocEnd(text: string, from: number, tag: string): number {
  let i = from;
  while (i < text.length) {
    const nl = text.indexOf("\n", i);
    const line = text.slice(i, nl < 0 ? text.length : nl);
    if (line.replace(/^\s*\|?\s*-?\s*/, "").trimEnd() === tag) return nl < 0 ? text.length : nl + 1;
    if (nl < 0) break;
    i = nl + 1;
  }
  return -1;
}

function skipRegex(text: string, from: number): number {
  let i = from;
  while (i < text.length && text[i] !== "/" && text[i] !== "\n") {
    if (text[i] === "\\") i++;
    i++;
  }
  return i + 1;
}

/** The index of the `}` closing the `{` at `open`, skipping nested braces and strings. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const q = c;
      i++;
      while (i < text.length && text[i] !== q) {
        if (text[i] === "\\") i++;
        i++;
      }
    } else if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}

function position(starts: number[], at: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= at) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: at - (starts[lo] as number) + 1 };
}
