import { describe, expect, it } from "vitest";
import type { Diagnostic } from "./errors.js";
import { parseSources } from "./parse.js";
import { validateModel } from "./validate.js";

function check(files: Record<string, string>): Diagnostic[] {
  const parsed = parseSources(Object.entries(files).map(([path, text]) => ({ path, text })));
  return [...parsed.diagnostics, ...validateModel(parsed.model, parsed.locate)];
}

const brief = (d: Diagnostic) =>
  `${d.location?.file}:${d.location?.line}:${d.location?.column} ${d.code} ${d.message}`;

describe("located errors", () => {
  const cases: { name: string; files: Record<string, string>; expected: RegExp[] }[] = [
    {
      name: "YAML syntax",
      files: { "a.yaml": "labels:\n  web: {puppet_classes: [nginx}\n" },
      expected: [/^a\.yaml:2:\d+ LAB_E_YAML_SYNTAX /],
    },
    {
      name: "unknown key with a suggestion",
      files: { "a.yaml": "labels:\n  web:\n    puppet_clases: [nginx]\n" },
      expected: [
        /^a\.yaml:3:5 LAB_E_SCHEMA_UNKNOWN_KEY unknown key "puppet_clases" in labels\.web \(did you mean "puppet_classes"\?\)/,
      ],
    },
    {
      name: "unknown top-level key",
      files: { "a.yaml": "label:\n  web: {}\n" },
      expected: [/^a\.yaml:1:1 LAB_E_SCHEMA_UNKNOWN_KEY unknown key "label" \(did you mean "labels"\?\)/],
    },
    {
      name: "an image that is not defined (an AMI id is one only at aws)",
      files: {
        "a.yaml":
          "servers:\n  e1: { provider: aws, image: ami-0abc123 }\n  m1: { provider: baremetal, image: ami-0abc123 }\n  m2: { provider: baremetal, image: ubuntu-24.4 }\n",
      },
      expected: [
        /^a\.yaml:3:37 LAB_E_REF_IMAGE server "m1" is installed with image "ami-0abc123", which is not defined/,
        /^a\.yaml:4:37 LAB_E_REF_IMAGE server "m2" .* \(did you mean "ubuntu-24\.04"\?\)/,
      ],
    },
    {
      name: "wrong type",
      files: { "a.yaml": "labels:\n  web:\n    ports: '80'\n" },
      expected: [/^a\.yaml:3:12 LAB_E_SCHEMA_TYPE labels\.web\.ports: expected a list of port numbers/],
    },
    {
      name: "a value out of range",
      files: { "a.yaml": "labels:\n  web:\n    ports: [80, 70000]\n" },
      expected: [/^a\.yaml:3:17 LAB_E_SCHEMA_VALUE labels\.web\.ports\.1: ports are 1–65535/],
    },
    {
      name: "a missing required field",
      files: { "a.yaml": "servers:\n  web-1:\n    labels: []\n" },
      expected: [/^a\.yaml:3:5 LAB_E_SCHEMA_REQUIRED servers\.web-1\.provider is required/],
    },
    {
      name: "an alert without a condition",
      files: { "a.yaml": "alerts:\n  - name: x\n    target: {labels: [a]}\n" },
      expected: [/^a\.yaml:2:5 LAB_E_SCHEMA_REQUIRED alerts\.0\.condition is required/],
    },
    {
      name: "a bad severity",
      files: {
        "a.yaml": "alerts:\n  - name: x\n    target: {}\n    condition: up == 0\n    severity: urgent\n",
      },
      expected: [
        /^a\.yaml:5:15 LAB_E_SCHEMA_VALUE alerts\.0\.severity: severity is one of info, warning, critical/,
      ],
    },
    {
      name: "an undefined label, pointing at the reference",
      files: {
        "labels.yaml": "labels:\n  production: {}\n",
        "servers.yaml": "servers:\n  a:\n    provider: aws\n    labels: [prodution]\n",
      },
      expected: [
        /^servers\.yaml:4:14 LAB_E_REF_LABEL server "a" refers to label "prodution", which is not defined \(did you mean "production"\?\)/,
      ],
    },
    {
      name: "an undefined size, group and server",
      files: {
        "a.yaml":
          "labels:\n  web: {size: huge}\ngroups:\n  g:\n    groups: [nope]\n    servers: [ghost]\nservers:\n  s: {provider: p, labels: [web]}\n",
      },
      expected: [
        /^a\.yaml:2:15 LAB_E_REF_SIZE label "web" refers to size "huge"/,
        /^a\.yaml:5:14 LAB_E_REF_GROUP group "g" refers to group "nope"/,
        /^a\.yaml:6:15 LAB_E_REF_SERVER group "g" refers to server "ghost"/,
      ],
    },
    {
      name: "a name defined twice names both places",
      files: { "a.yaml": "labels:\n  web: {}\n", "b.yaml": "\nlabels:\n  web: {}\n" },
      expected: [/^b\.yaml:3:3 LAB_E_DUPLICATE_NAME label "web" is defined twice: here and at a\.yaml:2:3/],
    },
    {
      name: "a cycle among groups, printed",
      files: {
        "a.yaml": "groups:\n  a: {groups: [b]}\n  b: {groups: [c]}\n  c: {match: {groups: [a]}}\n",
      },
      expected: [/LAB_E_GROUP_CYCLE groups form a cycle: a → b → c → a$/],
    },
    {
      name: "a cycle through an exclusion",
      files: { "a.yaml": "groups:\n  a: {exclude: {groups: [a]}}\n" },
      expected: [/LAB_E_GROUP_CYCLE groups form a cycle: a → a$/],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const found = check(c.files).map(brief);
      expect(found).toHaveLength(c.expected.length);
      c.expected.forEach((re, i) => {
        expect(found[i]).toMatch(re);
      });
    });
  }

  it("reports every error at once, across files", () => {
    const found = check({
      "a.yaml": "labels:\n  web: {ports: nope, sise: small}\n",
      "b.yaml": "servers:\n  s1: {provider: p, labels: [wbe]}\n  s2: {labels: [web]}\n",
      "c.yaml": "groups: [oops\n",
    });
    expect(found.map((d) => d.code).sort()).toEqual([
      "LAB_E_REF_LABEL",
      "LAB_E_SCHEMA_REQUIRED",
      "LAB_E_SCHEMA_TYPE",
      "LAB_E_SCHEMA_UNKNOWN_KEY",
      "LAB_E_YAML_SYNTAX",
    ]);
  });
});

describe("warnings", () => {
  it("an alert target that matches nothing", () => {
    const found = check({
      "a.yaml":
        "labels: {web: {}}\nservers: {s: {provider: p, labels: [web]}}\nalerts:\n  - name: lonely\n    condition: load1 > 1\n    target: {environment: prod}\n",
    });
    expect(found).toHaveLength(1);
    expect(found.map(brief)[0]).toMatch(/^a\.yaml:4:5 LAB_W_TARGET_EMPTY alert "lonely" matches no server/);
  });

  it("an unknown metric in a condition is a located error with a suggestion", () => {
    const found = check({
      "a.yaml": "alerts:\n  - name: disk\n    target: {}\n    condition: disk_usage_percnt > 85\n",
    });
    expect(found.map(brief)).toEqual([
      'a.yaml:4:16 LAB_E_ALERT_CONDITION alert "disk": unknown metric "disk_usage_percnt" (did you mean "disk_usage_percent"?)',
    ]);
  });

  it("a condition that is not METRIC OP NUMBER", () => {
    const found = check({ "a.yaml": "alerts:\n  - name: x\n    condition: when the disk is full\n" });
    expect(found.map((d) => d.code)).toEqual(["LAB_E_ALERT_CONDITION"]);
  });

  it("a label attaching an alert that has no condition anywhere", () => {
    const found = check({ "a.yaml": "labels:\n  web: {alerts: [smtp_connect, made_up]}\n" });
    expect(found.map(brief)).toEqual([
      'a.yaml:2:32 LAB_W_ALERT_UNDEFINED label "web" attaches alert "made_up", which has no condition and will not be rendered',
    ]);
  });

  it("labels that disagree on a size, and a secret that is not defined", () => {
    const found = check({
      "a.yaml":
        "sizes: {s: {}, l: {}}\nlabels:\n  a: {size: s, secrets: [x/y]}\n  b: {size: l}\nservers: {srv: {provider: p, labels: [a, b]}}\n",
    });
    expect(found.map((d) => d.code)).toEqual(["LAB_W_SECRET_UNDEFINED", "LAB_W_SIZE_CONFLICT"]);
  });
});

describe("accepted shapes", () => {
  it("several documents in one file, empty labels and scalar-or-list selectors", () => {
    const parsed = parseSources([
      {
        path: "a.yaml",
        text: "labels:\n  arm:\n  web: {}\n---\ngroups:\n  g: {match: {environment: prod, labels: web}}\n---\n",
      },
    ]);
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.model.label.get("arm")?.spec).toEqual({});
    expect(parsed.model.group.get("g")?.spec.match).toEqual({ environment: ["prod"], labels: ["web"] });
    expect(parsed.model.group.get("g")?.origin).toEqual({ file: "a.yaml", line: 6, column: 3 });
  });
});

describe("the parse cache", () => {
  const files = [
    { path: "labels.yaml", text: "labels:\n  web: { ports: [80] }\n" },
    {
      path: "servers.yaml",
      text: "servers:\n  web-1: { provider: p, labels: [web] }\n  web-2:\n    provider: p\n    labels: [web, nope]\n",
    },
  ];
  const mapCache = () => {
    const m = new Map<string, string>();
    return {
      entries: m,
      get: (f: { path: string; text: string }) => m.get(`${f.path}\u0000${f.text}`),
      set: (f: { path: string; text: string }, v: string) => {
        m.set(`${f.path}\u0000${f.text}`, v);
      },
    };
  };
  const outcome = (r: ReturnType<typeof parseSources>) => ({
    servers: [...r.model.server.values()],
    labels: [...r.model.label.values()],
    diagnostics: r.diagnostics,
    validation: validateModel(r.model, r.locate),
  });

  it("gives an unchanged file's objects, errors and precise locations without parsing it again", () => {
    const cache = mapCache();
    const first = parseSources(files, cache);
    expect(first.cached).toBe(0);
    expect(cache.entries.size).toBe(2);
    const second = parseSources(files, cache);
    expect(second.cached).toBe(2);
    expect(outcome(second)).toEqual(outcome(first));
    // The unknown label, pointing at the value inside the cached file (line 5).
    const unknown = outcome(second).validation.find((d) => d.code === "LAB_E_REF_LABEL");
    expect(unknown?.location).toMatchObject({ file: "servers.yaml", line: 5 });
  });

  it("parses a changed file again, and reads a damaged entry as a miss", () => {
    const cache = mapCache();
    parseSources(files, cache);
    const changed = [
      files[0],
      { path: "servers.yaml", text: "servers:\n  web-3: { provider: p }\n" },
    ] as typeof files;
    const again = parseSources(changed, cache);
    expect(again.cached).toBe(1);
    expect([...again.model.server.keys()]).toEqual(["web-3"]);
    for (const k of cache.entries.keys()) cache.entries.set(k, "{not json");
    const damaged = parseSources(changed, cache);
    expect(damaged.cached).toBe(0);
    expect([...damaged.model.server.keys()]).toEqual(["web-3"]);
  });

  it("reports a name defined in two files as a duplicate, cached or not", () => {
    const cache = mapCache();
    const twice = [...files, { path: "more.yaml", text: "labels:\n  web: {}\n" }];
    for (const run of [parseSources(twice, cache), parseSources(twice, cache)]) {
      const dup = run.diagnostics.find(
        (d) => d.code === "LAB_E_DUPLICATE_NAME" && d.message.includes("label"),
      );
      expect(dup?.location).toMatchObject({ file: "more.yaml", line: 2 });
    }
  });
});
