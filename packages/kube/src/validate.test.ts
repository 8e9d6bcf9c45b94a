// biome-ignore-all lint/suspicious/noExplicitAny: test fixtures are patched freely
import { describe, expect, it } from "vitest";
import { assertValidManifests, validateManifests } from "./validate.js";

const deployment = (patch: (d: Record<string, any>) => void = () => {}) => {
  const d: Record<string, any> = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", labels: { "app.kubernetes.io/name": "web" } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { "lab.io/label": "web" } },
      template: {
        metadata: { labels: { "lab.io/label": "web" } },
        spec: {
          containers: [
            {
              name: "web",
              image: "localhost/lab/web:2026.12.07",
              ports: [{ containerPort: 80, protocol: "TCP" }],
              resources: { requests: { cpu: "2", memory: "4Gi" } },
            },
          ],
        },
      },
    },
  };
  patch(d);
  return d;
};

describe("validateManifests (offline, against the Kubernetes OpenAPI schema)", () => {
  it("accepts valid objects of several kinds", () => {
    expect(
      validateManifests([
        deployment(),
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "lab" } },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "web", namespace: "lab" },
          spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] },
        },
        {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "state" },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
        },
      ]),
    ).toEqual([]);
  });

  const cases: { name: string; object: unknown; path: string; message: RegExp; code?: string }[] = [
    {
      name: "a wrong type, deep inside",
      object: deployment((d) => {
        d.spec.template.spec.containers[0].ports[0].containerPort = "http";
      }),
      path: "/spec/template/spec/containers/0/ports/0/containerPort",
      message: /must be integer/,
    },
    {
      name: "a missing required field",
      object: deployment((d) => {
        delete d.spec.template.spec.containers[0].name;
      }),
      path: "/spec/template/spec/containers/0/name",
      message: /required field "name" is missing/,
    },
    {
      name: "a misspelt field",
      object: deployment((d) => {
        d.spec.replica = 3;
      }),
      path: "/spec/replica",
      message: /unknown field "replica" \(did you mean "replicas"\?\)/,
    },
    {
      name: "an unknown field in a list item",
      object: deployment((d) => {
        d.spec.template.spec.containers[0].imagePullPolice = "Always";
      }),
      path: "/spec/template/spec/containers/0/imagePullPolice",
      message: /did you mean "imagePullPolicy"/,
    },
    {
      name: "an invalid object name",
      object: deployment((d) => {
        d.metadata.name = "Web_1";
      }),
      path: "/metadata/name",
      message: /not a valid Deployment name/,
    },
    {
      name: "a selector that misses the template",
      object: deployment((d) => {
        d.spec.selector.matchLabels["lab.io/label"] = "db";
      }),
      path: "/spec/selector/matchLabels/lab.io~1label",
      message: /does not match the template's labels/,
    },
    {
      name: "a bad label value",
      object: deployment((d) => {
        d.metadata.labels.tier = "front end";
      }),
      path: "/metadata/labels/tier",
      message: /label value "front end"/,
    },
    {
      name: "an unknown kind",
      object: { apiVersion: "apps/v1", kind: "Deploy", metadata: { name: "x" } },
      path: "/",
      message: /unknown kind apps\/v1 Deploy \(did you mean apps\/v1\/Deployment\?\)/,
      code: "LAB_E_KUBE_UNKNOWN_KIND",
    },
    {
      name: "no apiVersion",
      object: { kind: "Deployment" },
      path: "/apiVersion",
      message: /apiVersion and kind are required/,
    },
  ];
  for (const c of cases) {
    it(`finds ${c.name}, with its path`, () => {
      const errors = validateManifests([deployment(), c.object]);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.index === 1)).toBe(true);
      const hit = errors.find((e) => e.path === c.path);
      expect(hit, JSON.stringify(errors)).toBeDefined();
      expect(hit?.message).toMatch(c.message);
      expect(hit?.code).toBe(c.code ?? "LAB_E_KUBE_INVALID");
    });
  }

  it("assertValidManifests throws a coded error that lists every problem", () => {
    expect(() => assertValidManifests([deployment()])).not.toThrow();
    const bad = deployment((d) => {
      d.spec.replicas = "two";
      d.spec.strategy = { type: "Sideways" };
    });
    try {
      assertValidManifests([bad]);
      expect.unreachable();
    } catch (e) {
      const err = e as { code: string; message: string };
      expect(err.code).toBe("LAB_E_KUBE_INVALID");
      expect(err.message).toContain("Deployment/web /spec/replicas: must be integer");
    }
  });
});
