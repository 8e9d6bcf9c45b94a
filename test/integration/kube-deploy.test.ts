/**
 * lab deploy / scale / get deployments through @kubernetes/client-node against a RECORDED
 * Kubernetes API (test/support/kube-recorded.ts: a local HTTPS server replaying API JSON from
 * test/fixtures/kube/, checking each request's method, path, token and body). No API server
 * runs here: what a real cluster would do beyond answering is not proven by this test.
 * The CLI runs in local mode; the kubeconfig comes from the cluster's secret in the real vault.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { labAsyncIn, tempHome } from "../support/cli.js";
import { type RecordedApi, startRecordedApi } from "../support/kube-recorded.js";

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

describe("lab deploy / scale / get deployments on a recorded Kubernetes API", () => {
  const home = tempHome("lab-h17-kube-");
  const lab = labAsyncIn(home);
  let api: RecordedApi;
  const IMAGE = "localhost/lab/app:2026.12.07";

  beforeAll(async () => {
    api = await startRecordedApi(PORT);
    writeFileSync(join(home, "fleet.yaml"), FLEET);
    expect((await lab(["apply", "-f", join(home, "fleet.yaml")])).code).toBe(0);
    const kc = join(home, "kubeconfig.json");
    writeFileSync(kc, api.kubeconfig("production"));
    expect((await lab(["secret", "set", "k8s/production/kubeconfig", "--from-file", kc])).code).toBe(0);
    // A cluster whose API server is not listening: the port is closed, nothing answers.
    writeFileSync(kc, api.kubeconfig("down").replace(`:${PORT}`, `:${CLOSED_PORT}`));
    expect((await lab(["secret", "set", "k8s/down/kubeconfig", "--from-file", kc])).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await api?.close();
  });
  afterEach(() => {
    // Every request was the one expected, and every expected one came.
    expect(api.mismatches).toEqual([]);
    expect(api.pending()).toEqual([]);
  });

  it("--dry-run renders the label's Deployment, validated offline, and sends nothing", async () => {
    const before = api.received.length;
    const r = await lab([
      "deploy",
      "-l",
      "app",
      "--cluster",
      "production",
      "--replicas",
      "4",
      "--image",
      IMAGE,
      "--dry-run",
      "-o",
      "json",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as Dep;
    expect(d.metadata.labels["app.kubernetes.io/managed-by"]).toBe("lab");
    expect(d.spec.replicas).toBe(4);
    expect(d.spec.template.spec.containers[0]).toEqual({
      name: "app",
      image: IMAGE,
      ports: [{ containerPort: 80, protocol: "TCP" }],
      resources: { requests: { cpu: "4", memory: "8Gi" }, limits: { memory: "8Gi" } },
    });
    expect(api.received.length).toBe(before);
  });

  it("deploy creates the Deployment when there is none (the body checked by the recorded API)", async () => {
    api.expect(
      {
        name: "read",
        method: "GET",
        path: "/apis/apps/v1/namespaces/default/deployments/app",
        status: 404,
        reply: "status-404-app.json",
      },
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
    );
    const r = await lab([
      "deploy",
      "--label",
      "app",
      "--cluster",
      "production",
      "--replicas",
      "4",
      "--image",
      IMAGE,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("created deployment default/app");
    // Right after a create the API reports no pods yet: the line says so, not "running".
    expect(r.stdout).toContain("→ app on production: 0/4 ready, rolling out");
  });

  it("get deployments lists what the API reports, with status from its conditions", async () => {
    api.expect({
      name: "list",
      method: "GET",
      path: "/apis/apps/v1/namespaces/default/deployments?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dlab",
      status: 200,
      reply: "deployment-list.json",
    });
    const r = await lab(["get", "deployments", "--cluster", "production"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NAME\s+CLUSTER\s+LABEL\s+REPLICAS\s+IMAGE\s+STATUS/);
    expect(r.stdout).toMatch(/app\s+production\s+app\s+4\/4\s+localhost\/lab\/app:2026\.12\.07\s+running/);
  });

  it("scale replaces the scale subresource with the new count", async () => {
    api.expect(
      {
        name: "read",
        method: "GET",
        path: "/apis/apps/v1/namespaces/default/deployments/app",
        status: 200,
        reply: "deployment-app-running.json",
      },
      {
        name: "read scale",
        method: "GET",
        path: "/apis/apps/v1/namespaces/default/deployments/app/scale",
        status: 200,
        reply: "scale-app-4.json",
      },
      {
        name: "replace scale",
        method: "PUT",
        path: "/apis/apps/v1/namespaces/default/deployments/app/scale",
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
    );
    const r = await lab(["scale", "--label", "app", "--cluster", "production", "--replicas", "6"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("app on production: 4 → 6 replicas");
  });

  it("a deploy that races another change is a 409: LAB_E_KUBE_CONFLICT", async () => {
    api.expect(
      {
        name: "read",
        method: "GET",
        path: "/apis/apps/v1/namespaces/default/deployments/app",
        status: 200,
        reply: "deployment-app-running.json",
      },
      {
        name: "replace",
        method: "PUT",
        path: "/apis/apps/v1/namespaces/default/deployments/app",
        body: (b) => {
          expect((b as unknown as Dep).metadata.resourceVersion).toBe("41907");
        },
        status: 409,
        reply: "status-409-modified.json",
      },
    );
    const r = await lab([
      "deploy",
      "-l",
      "app",
      "--cluster",
      "production",
      "--replicas",
      "4",
      "--image",
      IMAGE,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_KUBE_CONFLICT");
    expect(r.stderr).toContain("the object has been modified");
  });

  it("a deployment Lab did not make is left alone (no write is sent)", async () => {
    api.expect({
      name: "read",
      method: "GET",
      path: "/apis/apps/v1/namespaces/default/deployments/app",
      status: 200,
      reply: "deployment-foreign.json",
    });
    const r = await lab(["deploy", "-l", "app", "--cluster", "production", "--image", IMAGE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("LAB_E_KUBE_CONFLICT");
    expect(r.stderr).toContain("was not made by Lab");
  });

  it("403 and an unreachable cluster are rows that say so, with their codes, and exit 1", async () => {
    api.expect({
      name: "list (forbidden)",
      method: "GET",
      path: "/apis/apps/v1/namespaces/default/deployments?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dlab",
      status: 403,
      reply: "status-403-list.json",
    });
    const r = await lab(["get", "deployments"]);
    expect(r.code).toBe(1);
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
  });

  it("bad input is refused before anything is sent", async () => {
    const noImage = await lab(["deploy", "-l", "db", "--cluster", "production"], undefined);
    expect(noImage.code).toBe(1);
    expect(noImage.stderr).toContain("LAB_E_DEPLOY_IMAGE");
    const replicas = await lab(["scale", "-l", "app", "--cluster", "production", "--replicas", "-2"]);
    expect(replicas.code).toBe(2);
    expect(replicas.stderr).toContain("LAB_E_USAGE");
    const cluster = await lab(["deploy", "-l", "app", "--cluster", "prod", "--image", IMAGE]);
    expect(cluster.code).toBe(3);
    expect(cluster.stderr).toContain('cluster "prod" not found');
    const label = await lab(["deploy", "-l", "ap", "--cluster", "production", "--image", IMAGE]);
    expect(label.code).toBe(3);
    expect(label.stderr).toContain('label "ap" not found (did you mean "app"?)');
    const image = await lab(["deploy", "-l", "app", "--cluster", "production", "--image", "", "--dry-run"]);
    expect(image.code).toBe(1);
    expect(image.stderr).toContain("LAB_E_KUBE_INVALID");
    expect(image.stderr).toContain(
      "Deployment/app /spec/template/spec/containers/0/image: a container needs an image",
    );
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
