import {
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { callSites } from "./policy.js";
import { type CodeIndex, scanManifest, scanModulePath } from "./puppet.js";

function scan(text: string): CodeIndex {
  const index: CodeIndex = { scanned: true, modulePath: [], classes: new Map(), problems: [] };
  scanManifest(text, "m/manifests/init.pp", index);
  return index;
}
const found = (text: string) => [...scan(text).classes.values()].flatMap((c) => c.calls.map((s) => s.secret));

describe("finding lab::secret() in Puppet code", () => {
  it.each([
    { name: "a call in a class body", code: "class m { $x = lab::secret('a/b') }", want: ["a/b"] },
    {
      name: "double quotes without interpolation",
      code: 'class m { $x = lab::secret("a/b") }',
      want: ["a/b"],
    },
    { name: "a top-scope qualified call", code: "class m { $x = ::lab::secret('a/b') }", want: ["a/b"] },
    { name: "a # comment", code: "class m {\n  # lab::secret('no')\n}", want: [] },
    { name: "a /* */ comment", code: "class m { /* lab::secret('no') */ }", want: [] },
    { name: "inside a single-quoted string", code: "class m { $x = 'lab::secret(\\'no\\')' }", want: [] },
    { name: "inside a double-quoted string", code: `class m { $x = "see lab::secret('no')" }`, want: [] },
    {
      name: "inside string interpolation (it runs)",
      code: `class m { $x = "pw=\${lab::secret('yes')}" }`,
      want: ["yes"],
    },
    {
      name: "an unquoted heredoc body, and code after the heredoc",
      code: "class m {\n  $t = @(END)\n    lab::secret('no')\n    | END\n  $y = lab::secret('after')\n}",
      want: ["after"],
    },
    {
      name: "a quoted heredoc with syntax and trim markers",
      code: 'class m {\n  $t = @("EOT":json/L)\n  {"k": "lab::secret(\'no\')"}\n  |-EOT\n}',
      want: [],
    },
    { name: "a regular expression", code: "class m { if $x =~ /lab::secret\\('no'\\)/ { } }", want: [] },
    {
      name: "a mention without a call",
      code: "class m { notice('lab::secret') $f = lab::secret }",
      want: [],
    },
    {
      name: "two classes, each its own",
      code: "class a { lab::secret('x') }\nclass b (String $p = 'q') inherits a { lab::secret('y') }",
      want: ["x", "y"],
    },
  ])("$name", ({ code, want }) => {
    expect(found(code)).toEqual(want);
  });

  it("says where each call is, and flags calls it cannot attribute or read", () => {
    const index = scan(
      "# header\nclass m {\n  $a = lab::secret('one')\n  $b = lab::secret($name)\n}\nlab::secret('top')\n",
    );
    expect(index.classes.get("m")?.calls).toEqual([
      { secret: "one", file: "m/manifests/init.pp", line: 3, column: 8 },
    ]);
    expect(index.problems.map((p) => `${p.line}: ${p.message}`)).toEqual([
      "4: lab::secret() with a computed name: Lab cannot tell which secret it reads",
      "6: lab::secret('top') outside any class or defined type: it grants nothing",
    ]);
  });

  it("follows include, contain, resource-like classes and defined types", () => {
    const index = scan(`
      class app { include app::db, 'app::web'  contain app::cache  class { 'app::tls': port => 1 }  app::vhost { 'x': } }
      class app::db { $p = lab::secret('db/password') }
      define app::vhost { $c = lab::secret('web/cert') }
      class app::tls { include app }
    `);
    expect(index.classes.get("app")?.includes).toEqual([
      "app::db",
      "app::web",
      "app::cache",
      "app::tls",
      "app::vhost",
    ]);
    const sites = callSites(index, "app").map((s) => `${s.site.secret} via ${s.via.join(">")}`);
    expect(sites).toEqual(["db/password via app::db", "web/cert via app::vhost"]);
  });
});

const MODULES = "/usr/share/puppet/modules";

describe("real module layouts (Debian's packaged Puppet modules)", () => {
  if (!existsSync(join(MODULES, "postfix", "manifests", "init.pp"))) {
    throw new Error(
      `${MODULES}/postfix is missing: run scripts/ensure-peers.sh (apt-get install puppet-module-camptocamp-postfix puppet-module-puppetlabs-postgresql)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "lab-puppet-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads every class and defined type of postfix, postgresql, stdlib, … without a false call or problem", () => {
    const index = scanModulePath([MODULES]);
    expect(index.problems).toEqual([]);
    expect([...index.classes.values()].flatMap((c) => c.calls)).toEqual([]);
    expect(index.classes.get("postfix")?.includes).toEqual(
      expect.arrayContaining(["postfix::packages", "postfix::files", "postfix::service"]),
    );
    expect(index.classes.has("postgresql::server::role")).toBe(true);
    expect(index.classes.size).toBeGreaterThan(60);
  });

  it("finds a call added to a real manifest, reached from the class a label applies", () => {
    // The packaged modules are symlinks (alternatives): copy what they point at, never write through.
    cpSync(realpathSync(join(MODULES, "postfix")), join(dir, "postfix"), {
      recursive: true,
      dereference: true,
    });
    const files = join(dir, "postfix", "manifests", "files.pp");
    const text = readFileSync(files, "utf8");
    // A real call inside postfix::files, next to decoys in a comment and a string.
    const patched = text.replace(
      "class postfix::files {\n",
      "class postfix::files {\n  # lab::secret('decoy/comment')\n  $relay = lab::secret('mail/relay-credentials')\n  $d = 'lab::secret(\"decoy/string\")'\n",
    );
    expect(lstatSync(files).isSymbolicLink()).toBe(false);
    writeFileSync(files, patched);
    const index = scanModulePath([dir]);
    expect(index.problems).toEqual([]);
    const sites = callSites(index, "postfix");
    expect(sites).toEqual([
      {
        site: { secret: "mail/relay-credentials", file: "postfix/manifests/files.pp", line: 3, column: 12 },
        via: ["postfix::files"],
      },
    ]);
  });
});
