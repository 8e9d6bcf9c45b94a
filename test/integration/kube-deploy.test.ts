/**
 * lab deploy / scale / get deployments through @kubernetes/client-node against a RECORDED
 * Kubernetes API (test/support/kube-recorded.ts: a local HTTPS server replaying API JSON from
 * test/fixtures/kube/, checking each request's method, path, token and body). No API server
 * runs here: what a real cluster would do beyond answering is not proven by this test.
 *
 * Every case runs twice: in local mode (the kubeconfig from the cluster's secret in the local
 * vault) and in client mode (the same command through `lab server`, which reads the same vault
 * and talks to the recorded API itself). The recorded API checks both conversations; client
 * mode must print the same bytes and exit with the same code.
 *
 * `lab get containers` lists real images in a throwaway buildah storage (made here with
 * `buildah from scratch`, labelled as `lab build` labels them) and matches them to the
 * deployments the recorded API lists.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningServer, startServer } from "@lab/server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, type Run, tempHome } from "../support/cli.js";
import { type Exchange, type RecordedApi, startRecordedApi } from "../support/kube-recorded.js";

const PORT = 21700;
const CLOSED_PORT = 21749;

type Dep = {
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { name: string; image: string; ports: unknown[]; resources: unknown }[] };
    };
  };
};

const FLEET = `
sizes:
  medium: { abstract: { cores: 4, memory: 8GB } }
labels:
  app: { ports: [80], size: medium }
  db: {}
clusters:
  production:
    type: k8s
    kubeconfig_secret: k8s/production/kubeconfig
  nokube:
    type: k3s
    kubeconfig_secret: k8s/nokube/kubeconfig
  down:
    type: k8s
    kubeconfig_secret: k8s/down/kubeconfig
`;

const IMAGE = "localhost/lab/app:2026.12.07";
/** Built but deployed nowhere the recorded API knows of. */
const WORKER_IMAGE = "localhost/lab/worker:2026.12.07";
const NOKUBE_WHY =
  "— nokube could not be asked: LAB_E_KUBECONFIG: cluster nokube: cannot read its kubeconfig secret k8s/nokube/kubeconfig";
const DOWN_WHY = `— down could not be asked: LAB_E_KUBE_UNREACHABLE: cluster down: cannot reach the API server at https://127.0.0.1:${CLOSED_PORT}`;

/** A real image in buildah storage `root`, labelled as `lab build` labels its images. */
function builtImage(root: string, label: string, ref: string): void {
  const b = (...args: string[]) => {
    const r = spawnSync(
      "buildah",
      ["--storage-driver", "vfs", "--root", root, "--runroot", join(root, "run"), ...args],
      {
        encoding: "utf8",
      },
    );
    if (r.error || r.status !== 0) {
      throw new Error(
        `buildah ${args.join(" ")} failed (apt-get install buildah): ${r.error?.message ?? r.stderr}`,
      );
    }
    return r.stdout.trim();
  };
  const ctr = b("from", "scratch");
  b("config", "--label", `io.lab.label=${label}`, "--label", `io.lab.classes=lab_test::${label}`, ctr);
  b("commit", "-q", ctr, ref);
  b("rm", ctr);
}
const DEPLOYMENT = "/apis/apps/v1/namespaces/default/deployments/app";
const LIST =
  "/apis/apps/v1/namespaces/default/deployments?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dlab";

/** The exchanges the cases are made of: each a recorded API answer. */
const read = (reply: string, status = 200): Exchange => ({
  name: "read",
  method: "GET",
  path: DEPLOYMENT,
  status,
  reply,
});
const list = (reply: string, status = 200): Exchange => ({
  name: "list",
  method: "GET",
  path: LIST,
  status,
  reply,
});
const scaleTo6: Exchange[] = [
  read("deployment-app-running.json"),
  {
    name: "read scale",
    method: "GET",
    path: `${DEPLOYMENT}/scale`,
    status: 200,
    reply: "scale-app-4.json",
  },
  {
    name: "replace scale",
    method: "PUT",
    path: `${DEPLOYMENT}/scale`,
    body: (b) => {
      expect(b).toMatchObject({
        kind: "Scale",
        spec: { replicas: 6 },
        metadata: { name: "app", resourceVersion: "41907" },
      });
    },
    status: 200,
    reply: "scale-app-6.json",
  },
];

interface Case {
  name: string;
  args: string[];
  /** What the recorded API must be asked, in order (none: nothing may be sent). */
  api?: Exchange[];
  code: number;
  /** Checks of local mode's run; client mode must then print the same bytes. */
  check: (r: Run) => void;
}

const deployApp = (...extra: string[]) => [
  "deploy",
  "-l",
  "app",
  "--cluster",
  "production",
  "--image",
  IMAGE,
  ...extra,
];

const CASES: Case[] = [
  {
    name: "--dry-run renders the label's Deployment, validated offline, and sends nothing",
    args: deployApp("--replicas", "4", "--dry-run", "-o", "json"),
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      const d = JSON.parse(r.stdout) as Dep;
      expect(d.metadata.labels["app.kubernetes.io/managed-by"]).toBe("lab");
      expect(d.spec.replicas).toBe(4);
      expect(d.spec.template.spec.containers[0]).toEqual({
        name: "app",
        image: IMAGE,
        ports: [{ containerPort: 80, protocol: "TCP" }],
        resources: { requests: { cpu: "4", memory: "8Gi" }, limits: { memory: "8Gi" } },
      });
    },
  },
  {
    name: "deploy creates the Deployment when there is none (the body checked by the recorded API)",
    args: deployApp("--replicas", "4"),
    api: [
      read("status-404-app.json", 404),
      {
        name: "create",
        method: "POST",
        path: "/apis/apps/v1/namespaces/default/deployments",
        body: (b) => {
          const d = b as unknown as Dep;
          expect(b.kind).toBe("Deployment");
          expect(d.metadata).toMatchObject({ name: "app", namespace: "default" });
          expect(d.metadata.resourceVersion).toBeUndefined();
          expect(d.spec.replicas).toBe(4);
          expect(d.spec.selector.matchLabels).toEqual({ "lab.io/label": "app" });
          expect(d.spec.template.metadata.labels).toMatchObject({ "lab.io/label": "app" });
          expect(d.spec.template.spec.containers[0]?.image).toBe(IMAGE);
        },
        status: 201,
        reply: "deployment-created.json",
      },
    ],
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("created deployment default/app");
      // Right after a create the API reports no pods yet: the line says so, not "running".
      expect(r.stdout).toContain("→ app on production: 0/4 ready, rolling out");
    },
  },
  {
    name: "get deployments lists what the API reports, with status from its conditions",
    args: ["get", "deployments", "--cluster", "production"],
    api: [list("deployment-list.json")],
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/NAME\s+CLUSTER\s+LABEL\s+REPLICAS\s+IMAGE\s+STATUS/);
      expect(r.stdout).toMatch(/app\s+production\s+app\s+4\/4\s+localhost\/lab\/app:2026\.12\.07\s+running/);
    },
  },
  {
    name: "scale replaces the scale subresource with the new count",
    args: ["scale", "--label", "app", "--cluster", "production", "--replicas", "6"],
    api: scaleTo6,
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("app on production: 4 → 6 replicas");
    },
  },
  {
    name: "scale -o json prints the scale's answer: name, cluster, from, to",
    args: ["scale", "--label", "app", "--cluster", "production", "--replicas", "6", "-o", "json"],
    api: scaleTo6,
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({ name: "app", cluster: "production", from: 4, to: 6 });
    },
  },
  {
    name: "a deploy that races another change is a 409: LAB_E_KUBE_CONFLICT",
    args: deployApp("--replicas", "4"),
    api: [
      read("deployment-app-running.json"),
      {
        name: "replace",
        method: "PUT",
        path: DEPLOYMENT,
        body: (b) => {
          expect((b as unknown as Dep).metadata.resourceVersion).toBe("41907");
        },
        status: 409,
        reply: "status-409-modified.json",
      },
    ],
    code: 1,
    check: (r) => {
      expect(r.stderr).toContain("LAB_E_KUBE_CONFLICT");
      expect(r.stderr).toContain("the object has been modified");
    },
  },
  {
    name: "a deployment Lab did not make is left alone (no write is sent)",
    args: deployApp(),
    api: [read("deployment-foreign.json")],
    code: 1,
    check: (r) => {
      expect(r.stderr).toContain("LAB_E_KUBE_CONFLICT");
      expect(r.stderr).toContain("was not made by Lab");
    },
  },
  {
    name: "403 and an unreachable cluster are rows that say so, with their codes, and exit 1",
    args: ["get", "deployments"],
    api: [list("status-403-list.json", 403)],
    code: 1,
    check: (r) => {
      expect(r.stdout).toMatch(/—\s+production\s+—\s+—\s+—\s+forbidden/);
      expect(r.stdout).toMatch(/—\s+down\s+—\s+—\s+—\s+unreachable/);
      expect(r.stdout).toMatch(/—\s+nokube\s+—\s+—\s+—\s+no kubeconfig/);
      expect(r.stderr).toContain(
        'production: LAB_E_KUBE_FORBIDDEN: cluster production (https://127.0.0.1:21700) refused to list deployments: deployments.apps is forbidden: User "system:serviceaccount:default:lab"',
      );
      expect(r.stderr).toContain(
        `down: LAB_E_KUBE_UNREACHABLE: cluster down: cannot reach the API server at https://127.0.0.1:${CLOSED_PORT}`,
      );
      expect(r.stderr).toContain("ECONNREFUSED");
      expect(r.stderr).toContain(
        "nokube: LAB_E_KUBECONFIG: cluster nokube: cannot read its kubeconfig secret k8s/nokube/kubeconfig",
      );
    },
  },
  {
    name: "get containers: an image a cluster runs shows it and the deployment's ready/replicas; a cluster that cannot be asked is a footnote, and an image found nowhere else is —",
    args: ["get", "containers"],
    api: [list("deployment-list.json")],
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/NAME\s+IMAGE\s+LABEL\s+K8S CLUSTER\s+STATUS/);
      expect(r.stdout).toMatch(
        /app\s+localhost\/lab\/app:2026\.12\.07\s+app\s+production\s+running \(4\/4\)\n/,
      );
      // nokube and down did not answer: worker may run there, so its cluster is not known.
      expect(r.stdout).toMatch(/worker\s+localhost\/lab\/worker:2026\.12\.07\s+worker\s+—\s+built\n/);
      expect(r.stdout).toContain(NOKUBE_WHY);
      expect(r.stdout).toContain(DOWN_WHY);
    },
  },
  {
    name: "get containers -o json: the cluster, deployment and pods observed; null and the reasons where not known",
    args: ["get", "containers", "-o", "json"],
    api: [list("deployment-list.json")],
    code: 0,
    check: (r) => {
      expect(r.stderr).toBe("");
      const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
      const app = rows.find((x) => x.image === IMAGE);
      expect(app).toMatchObject({
        name: "app",
        label: "app",
        cluster: "production",
        status: "running (4/4)",
        replicas: { ready: 4, desired: 4 },
        deployment: "default/app",
      });
      const worker = rows.find((x) => x.image === WORKER_IMAGE);
      expect(worker).toMatchObject({ label: "worker", cluster: null, status: "built" });
      expect(worker?.clusterUnknown).toEqual([
        expect.stringContaining(NOKUBE_WHY.slice(2)),
        expect.stringContaining(DOWN_WHY.slice(2)),
      ]);
    },
  },
  {
    name: "get containers when production refuses (403) too: no image's cluster is known, each reason below",
    args: ["get", "containers"],
    api: [list("status-403-list.json", 403)],
    code: 0,
    check: (r) => {
      expect(r.stdout).toMatch(/app\s+localhost\/lab\/app:2026\.12\.07\s+app\s+—\s+built\n/);
      expect(r.stdout).toMatch(/worker\s+localhost\/lab\/worker:2026\.12\.07\s+worker\s+—\s+built\n/);
      expect(r.stdout).toContain("— production could not be asked: LAB_E_KUBE_FORBIDDEN: cluster production");
      expect(r.stdout).toContain(NOKUBE_WHY);
      expect(r.stdout).toContain(DOWN_WHY);
    },
  },
  {
    name: "no --image and no built image: LAB_E_DEPLOY_IMAGE",
    args: ["deploy", "-l", "db", "--cluster", "production"],
    code: 1,
    check: (r) => expect(r.stderr).toContain("LAB_E_DEPLOY_IMAGE"),
  },
  {
    name: "a negative replica count is a usage error",
    args: ["scale", "-l", "app", "--cluster", "production", "--replicas", "-2"],
    code: 2,
    check: (r) => expect(r.stderr).toContain("LAB_E_USAGE"),
  },
  {
    name: "an unknown cluster is not found",
    args: ["deploy", "-l", "app", "--cluster", "prod", "--image", IMAGE],
    code: 3,
    check: (r) => expect(r.stderr).toContain('cluster "prod" not found'),
  },
  {
    name: "an unknown label is not found, with a suggestion",
    args: ["deploy", "-l", "ap", "--cluster", "production", "--image", IMAGE],
    code: 3,
    check: (r) => expect(r.stderr).toContain('label "ap" not found (did you mean "app"?)'),
  },
  {
    name: "an empty image fails the offline validation, with its path",
    args: ["deploy", "-l", "app", "--cluster", "production", "--image", "", "--dry-run"],
    code: 1,
    check: (r) => {
      expect(r.stderr).toContain("LAB_E_KUBE_INVALID");
      expect(r.stderr).toContain(
        "Deployment/app /spec/template/spec/containers/0/image: a container needs an image",
      );
    },
  },
];

describe("lab deploy / scale / get deployments on a recorded Kubernetes API, local and client mode", () => {
  const home = tempHome("lab-h17-kube-");
  // `lab get containers` reads the images on the CLI's machine, in both modes.
  const buildahRoot = mkdtempSync(join(tmpdir(), "lab-h17-buildah-"));
  const local = labAsyncIn(home, { LAB_BUILDAH_ROOT: buildahRoot });
  let remote: ReturnType<typeof labAsyncIn>;
  let api: RecordedApi;
  let server: RunningServer;

  beforeAll(async () => {
    builtImage(buildahRoot, "app", IMAGE);
    builtImage(buildahRoot, "worker", WORKER_IMAGE);
    api = await startRecordedApi(PORT);
    writeFileSync(join(home, "fleet.yaml"), FLEET);
    expect((await local(["apply", "-f", join(home, "fleet.yaml")])).code).toBe(0);
    const kc = join(home, "kubeconfig.json");
    writeFileSync(kc, api.kubeconfig("production"));
    expect((await local(["secret", "set", "k8s/production/kubeconfig", "--from-file", kc])).code).toBe(0);
    // A cluster whose API server is not listening: the port is closed, nothing answers.
    writeFileSync(kc, api.kubeconfig("down").replace(`:${PORT}`, `:${CLOSED_PORT}`));
    expect((await local(["secret", "set", "k8s/down/kubeconfig", "--from-file", kc])).code).toBe(0);
    // The server shares LAB_HOME, so it holds the same model and the same vault.
    server = await startServer({ home, host: "127.0.0.1", port: 0, tls: true, powerPollMs: 0, agent: false });
    remote = labAsyncIn(home, {
      LAB_SERVER: server.url,
      LAB_TOKEN: readFileSync(server.adminTokenPath as string, "utf8").trim(),
      LAB_CA_FILE: server.caPath as string,
      LAB_BUILDAH_ROOT: buildahRoot,
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await api?.close();
    rmSync(buildahRoot, { recursive: true, force: true });
  });
  afterEach(() => {
    // Every request was the one expected, and every expected one came.
    expect(api.mismatches).toEqual([]);
    expect(api.pending()).toEqual([]);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const runs: Run[] = [];
      for (const [mode, lab] of [
        ["local", local],
        ["client", remote],
      ] as const) {
        const before = api.received.length;
        api.expect(...(c.api ?? []));
        const r = await lab(c.args);
        expect(api.mismatches, mode).toEqual([]);
        expect(api.pending(), mode).toEqual([]);
        expect(api.received.length - before, `${mode}: requests sent`).toBe(c.api?.length ?? 0);
        runs.push(r);
      }
      const [l, r] = runs as [Run, Run];
      expect(l.code, l.stderr).toBe(c.code);
      c.check(l);
      expect(r.stdout).toBe(l.stdout);
      expect(r.stderr).toBe(l.stderr);
      expect(r.code).toBe(l.code);
    });
  }

  it("deploys and scales are in the audit log, done and refused, with who did them", async () => {
    const events = JSON.parse((await local(["get", "events", "-o", "json", "--limit", "200"])).stdout) as {
      actor: string;
      action: string;
      result: string;
      summary: string;
    }[];
    const kube = events.filter((e) => e.action.startsWith("kube."));
    const by = (actor: string) =>
      kube.filter((e) => e.actor === actor).map((e) => [e.action, e.result, e.summary]);
    for (const actor of ["tester", "token:bootstrap-admin(00000000)"]) {
      expect(by(actor)).toEqual(
        expect.arrayContaining([
          [
            "kube.deploy",
            "ok",
            `deploy label app to cluster production (${IMAGE}, 4 replica(s)): created deployment default/app`,
          ],
          ["kube.scale", "ok", "scale label app on cluster production to 6: app 4 → 6 replicas"],
          [
            "kube.deploy",
            "error",
            `deploy label app to cluster production (${IMAGE}, 4 replica(s)): refused, LAB_E_KUBE_CONFLICT`,
          ],
        ]),
      );
    }
  });

  it("client mode's token scopes: a read token lists, a write is refused before any request", async () => {
    const token = (
      await remote(["token", "create", "--name", "kube-reader", "--scope", "read"])
    ).stdout.trim();
    const reader = labAsyncIn(home, {
      LAB_SERVER: server.url,
      LAB_TOKEN: token,
      LAB_CA_FILE: server.caPath as string,
    });
    api.expect(list("deployment-list.json"));
    expect((await reader(["get", "deployments", "--cluster", "production"])).code).toBe(0);
    const before = api.received.length;
    const r = await reader(deployApp());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_FORBIDDEN");
    expect(r.stderr).toContain("lacks the write scope");
    expect(api.received.length).toBe(before);
  });
});

describe("lab kube validate: manifests checked offline, with file, document and path", () => {
  const home = tempHome("lab-h17-kubeval-");
  const lab = labAsyncIn(home);

  it("lists every problem and exits 1 with LAB_E_KUBE_INVALID; a valid file passes", async () => {
    const bad = join(home, "bad.yaml");
    writeFileSync(
      bad,
      [
        "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }] }",
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  replica: 2\n  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n    spec: { containers: [{ name: web, image: nginx, ports: [{ containerPort: "80" }] }] }',
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }",
      ].join("\n---\n"),
    );
    const r = await lab(["kube", "validate", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${bad}: document 2: Deployment/web /spec/replica: unknown field "replica" (did you mean "replicas"?)`,
    );
    expect(r.stderr).toContain(
      `${bad}: document 2: Deployment/web /spec/template/spec/containers/0/ports/0/containerPort: must be integer`,
    );
    expect(r.stderr).toContain(`${bad}: document 3: Widget/w /: unknown kind example.com/v1 Widget`);
    expect(r.stderr).toContain("LAB_E_KUBE_INVALID: 3 problem(s) in 3 object(s)");
    const good = join(home, "good.yaml");
    writeFileSync(good, "apiVersion: v1\nkind: Namespace\nmetadata: { name: lab }\n");
    const ok = await lab(["kube", "validate", good]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("1 object(s) valid (checked offline)\n");
  });
});
