/**
 * Offline validation of Kubernetes manifests, with no API server and no network:
 *  - types, required fields and enums: the per-kind validators kubernetes-models 4.5.1 generates
 *    from the Kubernetes 1.27.1 OpenAPI document (ajv, compiled into the package);
 *  - unknown fields (the API server's strict field validation, kubectl's default): the field
 *    lists @kubernetes/client-node generates from its own, newer OpenAPI document — the 1.27
 *    schema does not forbid extra keys, so a typo such as `replica:` would otherwise pass;
 *  - a few rules the API server applies beyond the schema (names, labels, a workload's
 *    selector against its template), because a manifest that passes here should be accepted.
 */

import * as client from "@kubernetes/client-node";
import { didYouMean, LabError } from "@lab/core";
import * as models from "kubernetes-models";

/** One problem in one object: which object (by its index in the input) and where in it. */
export interface ManifestError {
  index: number;
  /** `Deployment/web` (or `Deployment/<no name>`), for messages. */
  object: string;
  /** A JSON pointer into the object: `/spec/template/spec/containers/0/image`. */
  path: string;
  message: string;
  code: "LAB_E_KUBE_INVALID" | "LAB_E_KUBE_UNKNOWN_KIND";
}

type Validate = (data: unknown) => void;
interface KindEntry {
  validate: Validate;
  /** client-node's model name for this apiVersion/kind, when it has one with field lists. */
  fields?: string;
}

interface ModelClass {
  apiVersion?: string;
  kind?: string;
  new (data: unknown): { validate(): void };
}

let registry: Map<string, KindEntry> | undefined;

/** Every top-level kind kubernetes-models knows, keyed `apiVersion/kind`. */
function kinds(): Map<string, KindEntry> {
  if (registry) return registry;
  registry = new Map();
  // `models.apps.v1.Deployment`, but the core group is one level up: `models.v1.Service`.
  const visit = (node: unknown, depth: number) => {
    const c = node as ModelClass;
    if (typeof c === "function") {
      if (!c.apiVersion || !c.kind) return;
      registry?.set(`${c.apiVersion}/${c.kind}`, {
        validate: (data) => new c(data).validate(),
        fields: clientModelName(c.apiVersion, c.kind),
      });
    } else if (node && typeof node === "object" && depth < 3) {
      for (const child of Object.values(node)) visit(child, depth + 1);
    }
  };
  visit(models, 0);
  return registry;
}

type Attr = { baseName: string; type: string };
const clientModels = client as unknown as Record<string, { getAttributeTypeMap?: () => Attr[] } | undefined>;

/** client-node names models by version and kind (`V1Deployment`, `V2HorizontalPodAutoscaler`). */
function clientModelName(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split("/").pop() ?? "";
  const name = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  const attrs = clientModels[name]?.getAttributeTypeMap?.();
  // Same name, another group (core Event vs events.k8s.io Event): only trust a model whose
  // fields include what this kind's objects carry.
  return attrs?.some((a) => a.baseName === "apiVersion") ? name : undefined;
}

/** Keys the model does not define, with "did you mean", walking nested models, lists and maps. */
function unknownFields(
  value: unknown,
  type: string,
  path: string,
  out: (path: string, msg: string) => void,
): void {
  if (value === null || value === undefined) return;
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) unknownFields(v, list[1] as string, `${path}/${i}`, out);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value))
        unknownFields(v, map[1] as string, `${path}/${pointer(k)}`, out);
    }
    return;
  }
  const attrs = clientModels[type]?.getAttributeTypeMap?.();
  if (!attrs || typeof value !== "object" || Array.isArray(value)) return;
  const byName = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = byName.get(k);
    if (t === undefined) {
      const hint = didYouMean(k, byName.keys());
      out(`${path}/${pointer(k)}`, `unknown field "${k}"${hint ? ` (did you mean "${hint}"?)` : ""}`);
    } else unknownFields(v, t, `${path}/${pointer(k)}`, out);
  }
}

const pointer = (k: string) => k.replaceAll("~", "~0").replaceAll("/", "~1");

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Kinds whose names become DNS labels (a Service's name is a host name; a Namespace's too). */
const LABEL_NAMED = new Set(["Service", "Namespace"]);
const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]);

function labelKeyError(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix))
    return `label key prefix "${prefix}" is not a DNS subdomain`;
  if (!LABEL_NAME.test(name))
    return `label key "${key}": at most 63 letters, digits, - _ . starting and ending alphanumeric`;
  return undefined;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined;

/** What the API server checks beyond the schema, for the objects Lab renders. */
function serverRules(o: Obj, kind: string, out: (path: string, msg: string) => void): void {
  const meta = obj(o.metadata);
  const name = meta?.name;
  if (typeof name !== "string" || name === "") {
    if (typeof meta?.generateName !== "string") out("/metadata/name", "metadata.name is required");
  } else if (LABEL_NAMED.has(kind) ? !DNS_LABEL.test(name) : !DNS_SUBDOMAIN.test(name)) {
    out(
      "/metadata/name",
      `"${name}" is not a valid ${kind} name: lower-case letters, digits and -${LABEL_NAMED.has(kind) ? ", at most 63" : " (and .), at most 253"}`,
    );
  }
  const labels = (base: string, l: unknown) => {
    for (const [k, v] of Object.entries(obj(l) ?? {})) {
      const keyError = labelKeyError(k);
      if (keyError) out(`${base}/${pointer(k)}`, keyError);
      if (typeof v === "string" && !LABEL_VALUE.test(v)) {
        out(
          `${base}/${pointer(k)}`,
          `label value "${v}": at most 63 letters, digits, - _ . starting and ending alphanumeric`,
        );
      }
    }
  };
  labels("/metadata/labels", meta?.labels);
  if (!WORKLOADS.has(kind)) return;
  const spec = obj(o.spec);
  const template = obj(spec?.template);
  const templateLabels = obj(obj(template?.metadata)?.labels) ?? {};
  labels("/spec/template/metadata/labels", templateLabels);
  const selector = obj(spec?.selector);
  const match = obj(selector?.matchLabels) ?? {};
  if (
    spec &&
    selector &&
    Object.keys(match).length === 0 &&
    !(selector.matchExpressions as unknown[])?.length
  ) {
    out("/spec/selector", "empty selector: it would select every pod in the namespace");
  }
  for (const [k, v] of Object.entries(match)) {
    if (templateLabels[k] !== v) {
      out(
        `/spec/selector/matchLabels/${pointer(k)}`,
        `selector ${k}=${String(v)} does not match the template's labels`,
      );
    }
  }
  const containers = obj(template?.spec)?.containers;
  if (Array.isArray(containers)) {
    const seen = new Set<string>();
    containers.forEach((c, i) => {
      const image = obj(c)?.image;
      // Optional in the schema (pod templates may leave it to admission); the API server
      // requires it on workloads.
      if (typeof image !== "string" || image.trim() === "") {
        out(`/spec/template/spec/containers/${i}/image`, "a container needs an image");
      }
      const n = obj(c)?.name;
      if (typeof n !== "string") return;
      if (!DNS_LABEL.test(n))
        out(`/spec/template/spec/containers/${i}/name`, `container name "${n}" is not a DNS label`);
      if (seen.has(n)) out(`/spec/template/spec/containers/${i}/name`, `container name "${n}" is used twice`);
      seen.add(n);
    });
  }
}

/** Validates Kubernetes objects offline; an empty list means every object would be accepted. */
export function validateManifests(objects: readonly unknown[]): ManifestError[] {
  const errors: ManifestError[] = [];
  for (const [index, raw] of objects.entries()) {
    checkOne(raw, index, errors);
  }
  return errors;
}

function checkOne(raw: unknown, index: number, errors: ManifestError[]): void {
  {
    const o = obj(raw);
    const kind = typeof o?.kind === "string" ? o.kind : "";
    const name =
      typeof obj(o?.metadata)?.name === "string" ? (obj(o?.metadata)?.name as string) : "<no name>";
    const object = `${kind || "<no kind>"}/${name}`;
    const push = (
      path: string,
      message: string,
      code: ManifestError["code"] = "LAB_E_KUBE_INVALID",
    ): void => {
      errors.push({ index, object, path: path || "/", message, code });
    };
    if (!o) {
      push("", "expected a Kubernetes object (a map with apiVersion, kind, metadata)");
      return;
    }
    const apiVersion = typeof o.apiVersion === "string" ? o.apiVersion : "";
    if (!apiVersion || !kind) {
      push(apiVersion ? "/kind" : "/apiVersion", "apiVersion and kind are required");
      return;
    }
    const entry = kinds().get(`${apiVersion}/${kind}`);
    if (!entry) {
      const known = [...kinds().keys()];
      const hint = didYouMean(`${apiVersion}/${kind}`, known);
      push(
        "",
        `unknown kind ${apiVersion} ${kind}${hint ? ` (did you mean ${hint}?)` : ""}`,
        "LAB_E_KUBE_UNKNOWN_KIND",
      );
      return;
    }
    try {
      entry.validate(o);
    } catch (e) {
      const list = (e as { errors?: { instancePath: string; message?: string; params?: Obj }[] }).errors;
      if (!list) throw e;
      for (const err of list) {
        const missing = err.params?.missingProperty;
        const allowed = err.params?.allowedValues;
        push(
          missing ? `${err.instancePath}/${String(missing)}` : err.instancePath,
          missing
            ? `required field "${String(missing)}" is missing`
            : `${err.message ?? "is invalid"}${Array.isArray(allowed) ? `: ${allowed.join(", ")}` : ""}`,
        );
      }
    }
    if (entry.fields) unknownFields(o, entry.fields, "", (p, m) => push(p, m));
    serverRules(o, kind, (p, m) => push(p, m));
  }
}

/** One line per problem: `Deployment/web /spec/replicas: must be integer`. */
export function manifestErrorText(errors: readonly ManifestError[]): string {
  return errors.map((e) => `${e.object} ${e.path}: ${e.message}`).join("\n");
}

/** Throws LAB_E_KUBE_INVALID (or LAB_E_KUBE_UNKNOWN_KIND) listing every problem; nothing is sent. */
export function assertValidManifests(objects: readonly unknown[]): void {
  const errors = validateManifests(objects);
  if (errors.length === 0) return;
  const code = errors.every((e) => e.code === "LAB_E_KUBE_UNKNOWN_KIND")
    ? "LAB_E_KUBE_UNKNOWN_KIND"
    : "LAB_E_KUBE_INVALID";
  throw new LabError(
    code,
    `${errors.length} problem(s) in the manifests, found offline before sending:\n${manifestErrorText(errors)}`,
  );
}
