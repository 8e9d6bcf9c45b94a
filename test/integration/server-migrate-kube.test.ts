/**
 * `lab server migrate --target kubernetes` renders the control plane's manifests and validates
 * them offline. No cluster runs here: the manifests are checked against the Kubernetes OpenAPI
 * schema by @lab/kube (the same validator, called again by the test), and for what a cluster
 * would need to accept and wire them — selectors that match, the volume and Secret they refer
 * to, hostNetwork and NET_ADMIN only when PXE runs in the pod, no key material in any file.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateManifests } from "@lab/kube";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { labIn, ROOT, tempHome } from "../support/cli.js";
import { containsPrivateKey } from "../support/ssh-host.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by path in the assertions
type Obj = Record<string, any>;

describe("lab server migrate --target kubernetes", () => {
  let home: string;
  let lab: ReturnType<typeof labIn>;
  beforeAll(() => {
    home = tempHome("lab-kube-migrate-");
    lab = labIn(home);
    expect(lab(["apply", "-f", join(ROOT, "examples/homelab")]).code).toBe(0);
  });

  it("prints the manifests on stdout (for kubectl apply -f -) and the plan on stderr", () => {
    const r = lab(["server", "migrate", "--target", "kubernetes", "--cluster", "homelab"]);
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      "Namespace/lab",
      "PersistentVolumeClaim/lab-server-state",
      "Deployment/lab-server",
      "Service/lab-server",
    ]);
    expect(validateManifests(docs)).toEqual([]);
    expect(r.stderr).toMatch(/^~ migrate lab-server from local .* to kubernetes:\/\/homelab\/lab$/m);
    expect(r.stderr).toMatch(/^\+ PersistentVolumeClaim lab-server-state \(10Gi\)/m);
    expect(r.stderr).toMatch(/^\+ migrate state\.db to the PVC \(.*servers 17.*\) — needs a cluster/m);
    expect(r.stderr).toMatch(/^= PXE services stay on the bootstrap node/m);
    expect(r.stderr).toMatch(/⚠ Note: PXE\/DHCP requires L2 network access/);
    expect(r.stderr).toMatch(/✓ validated offline: 4 objects against the Kubernetes 1\.27 OpenAPI schema/);

    const deploy = docs[2] as Obj;
    const pod = deploy.spec.template.spec;
    expect(deploy.spec.replicas).toBe(1);
    expect(deploy.spec.strategy.type).toBe("Recreate");
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.containers[0].securityContext.capabilities).toEqual({ drop: ["ALL"] });
    // Wiring a cluster would resolve: the selector, the claim, the Secret, the Service's pods.
    for (const [k, v] of Object.entries(deploy.spec.selector.matchLabels)) {
      expect(deploy.spec.template.metadata.labels[k]).toBe(v);
      expect((docs[3] as Obj).spec.selector[k]).toBe(v);
    }
    const volumes = Object.fromEntries(pod.volumes.map((v: Obj) => [v.name, v]));
    expect(volumes.state.persistentVolumeClaim.claimName).toBe("lab-server-state");
    expect(volumes.keys.secret.secretName).toBe("lab-server-keys");
    expect(pod.containers[0].args.slice(0, 3)).toEqual(["server", "--listen", "0.0.0.0:7443"]);
    expect(pod.containers[0].args).toContain("lab-server.lab.svc");
    expect(containsPrivateKey(r.stdout)).toBe(false);
  });

  it("with --pxe-host-network the pod joins the node's network with the capabilities DHCP needs", () => {
    const out = mkdtempSync(join(tmpdir(), "lab-kube-out-"));
    const r = lab([
      "server",
      "migrate",
      "--target",
      "kubernetes",
      "--out",
      out,
      "--pxe-host-network",
      "--namespace",
      "infra",
      "--storage",
      "20Gi",
      "--image",
      "registry.local/lab:1",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toEqual([
      "00-namespace-infra.yaml",
      "10-persistentvolumeclaim-lab-server-state.yaml",
      "20-deployment-lab-server.yaml",
      "30-service-lab-server.yaml",
    ]);
    const docs = files.map((f) => parseAllDocuments(readFileSync(join(out, f), "utf8"))[0]?.toJS() as Obj);
    expect(validateManifests(docs)).toEqual([]);
    const pod = (docs[2] as Obj).spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.containers[0].securityContext.capabilities.add).toEqual([
      "NET_ADMIN",
      "NET_BIND_SERVICE",
      "NET_RAW",
    ]);
    expect(pod.containers[0].args).toContain("--pxe");
    expect(pod.containers[0].image).toBe("registry.local/lab:1");
    expect(pod.containers[0].ports.map((p: Obj) => `${p.containerPort}/${p.protocol}`)).toContain("67/UDP");
    expect((docs[1] as Obj).spec.resources.requests.storage).toBe("20Gi");
    expect(docs.every((d) => d.kind === "Namespace" || d.metadata.namespace === "infra")).toBe(true);
    expect(r.stdout).toMatch(/^\+ PXE services in the pod: hostNetwork/m);
    expect(r.stdout).toMatch(/→ wrote 4 manifests to /);
    for (const f of files) expect(containsPrivateKey(readFileSync(join(out, f), "utf8"))).toBe(false);
  });

  it("the validator it relies on rejects a broken variant of the same manifests (so the check can fail)", () => {
    const r = lab(["server", "migrate", "--target", "kubernetes"]);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    const deploy = docs[2] as Obj;
    deploy.spec.replicas = "one";
    deploy.spec.template.spec.containers[0].volumeMount = [];
    deploy.spec.selector.matchLabels = { app: "other" };
    const errors = validateManifests(docs).map((e) => `${e.object} ${e.path}`);
    expect(errors).toEqual(
      expect.arrayContaining([
        "Deployment/lab-server /spec/replicas",
        "Deployment/lab-server /spec/template/spec/containers/0/volumeMount",
      ]),
    );
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  it.each([
    {
      name: "a storage size that is not a quantity",
      args: ["--storage", "ten"],
      want: /LAB_E_USAGE: --storage wants a Kubernetes quantity/,
    },
    {
      name: "a namespace that is not a DNS label",
      args: ["--namespace", "Lab_NS"],
      want: /LAB_E_USAGE: --namespace must be a DNS label/,
    },
  ])("refuses $name", ({ args, want }) => {
    const r = lab(["server", "migrate", "--target", "kubernetes", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(want);
    expect(r.stdout).toBe("");
  });

  it("--target ssh without --host says what is missing", () => {
    const r = lab(["server", "migrate", "--target", "ssh"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/LAB_E_USAGE: --target ssh needs --host HOST/);
  });
});
