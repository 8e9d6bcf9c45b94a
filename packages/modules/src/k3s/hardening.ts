/**
 * Hardening after the k3s CIS self-assessment guide: secrets encrypted at rest, an audit policy,
 * Pod Security admission (restricted by default, kube-system exempt), and the kubeconfig and
 * token readable by root only. The config drop-in changes what k3s starts with, so a reload
 * step follows it (the same observed service check as the server step).
 */
import { fileOp } from "../files.js";
import { must, type Operation } from "../operation.js";
import { NODE_TOKEN, serviceOp } from "./service.js";

const DIR = "/var/lib/rancher/k3s/server";
export const HARDENING_DROPIN = "/etc/rancher/k3s/config.yaml.d/90-lab-hardening.yaml";

const DROPIN = `# Written by Lab (k3s module): hardening, after the k3s CIS self-assessment guide.
secrets-encryption: true
kube-apiserver-arg:
  - "audit-policy-file=${DIR}/audit.yaml"
  - "audit-log-path=${DIR}/logs/audit.log"
  - "audit-log-maxage=30"
  - "admission-control-config-file=${DIR}/psa.yaml"
`;

const AUDIT = `# Written by Lab (k3s module): who did what to which resource, without request bodies.
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
`;

const PSA = `# Written by Lab (k3s module): Pod Security admission, restricted unless exempt.
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: PodSecurity
    configuration:
      apiVersion: pod-security.admission.config.k8s.io/v1
      kind: PodSecurityConfiguration
      defaults:
        enforce: "restricted"
        enforce-version: "latest"
        audit: "restricted"
        audit-version: "latest"
        warn: "restricted"
        warn-version: "latest"
      exemptions:
        usernames: []
        runtimeClasses: []
        namespaces: [kube-system]
`;

/** Files k3s writes that must stay root-only. */
export function modesOp(paths: string[]): Operation {
  const probe = paths.map((p) => `if [ -e ${p} ]; then stat -c '%a %n' ${p}; fi`).join("\n");
  const loose = async (x: Parameters<Operation["check"]>[0]) =>
    (await must(x, probe, "reading file modes"))
      .trim()
      .split("\n")
      .filter(Boolean)
      .filter((l) => !l.startsWith("600 "));
  return {
    group: "hardening",
    name: "file-modes",
    async check(x) {
      const bad = await loose(x);
      if (bad.length) return { ok: false, detail: bad.map((l) => l.replace(" ", " on ")).join(", ") };
      return { ok: true, detail: `${paths.length} files 0600` };
    },
    async change(x) {
      const bad = (await loose(x)).map((l) => l.split(" ")[1] ?? "");
      await must(x, `chmod 600 ${bad.join(" ")}`, "chmod 600");
      return `chmod 600 ${bad.join(" ")}`;
    },
  };
}

export function serverHardening(): Operation[] {
  const reload = serviceOp("server", "hardening");
  return [
    fileOp("hardening", "secrets-audit-psa", HARDENING_DROPIN, DROPIN, 0o600),
    fileOp("hardening", "audit-policy", `${DIR}/audit.yaml`, AUDIT, 0o600),
    fileOp("hardening", "pod-security", `${DIR}/psa.yaml`, PSA, 0o600),
    { ...reload, name: "reload" },
    modesOp(["/etc/rancher/k3s/k3s.yaml", NODE_TOKEN, `${DIR}/token`]),
  ];
}
