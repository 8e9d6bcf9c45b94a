/**
 * The Kubernetes objects that run Lab's control plane: a Namespace, a PersistentVolumeClaim for
 * LAB_HOME, a Deployment of one replica (SQLite has one writer, the volume one mounter: the old
 * pod stops before the new one starts) that takes its keys from a Secret it only refers to, and
 * a Service for the API and the agent channel. PXE needs the machines' L2 segment, so with
 * `pxe` the pod joins the node's network (hostNetwork) with the capabilities DHCP needs.
 */

export interface KubeOptions {
  namespace: string;
  image: string;
  storage: string;
  pxe: boolean;
  /** Names the server certificate must carry (the Service's DNS names are always added). */
  san?: string[];
}

/** The Secret the Deployment mounts; created from LAB_HOME by the command the plan prints. */
export const KEYS_SECRET = "lab-server-keys";

/** Secret key → where it goes under LAB_HOME (Secret keys cannot hold a "/"). */
export const KEY_FILES: Record<string, string> = {
  "ca.crt": "server/ca.crt",
  "ca.key": "server/ca.key",
  ssh_ca: "server/ssh_ca",
  "ssh_ca.pub": "server/ssh_ca.pub",
  "callback.key": "server/callback.key",
  "pxe.secret": "server/pxe.secret",
  "admin.token": "server/admin.token",
  "secrets.age": "keys/secrets.age",
};

const APP = { "app.kubernetes.io/name": "lab-server", "app.kubernetes.io/part-of": "lab" };

export function renderManifests(o: KubeOptions): Record<string, unknown>[] {
  const meta = (name: string) => ({ name, namespace: o.namespace, labels: APP });
  const serviceNames = [
    "lab-server",
    `lab-server.${o.namespace}`,
    `lab-server.${o.namespace}.svc`,
    `lab-server.${o.namespace}.svc.cluster.local`,
    ...(o.san ?? []),
  ];
  const args = ["server", "--listen", "0.0.0.0:7443", ...serviceNames.flatMap((n) => ["--san", n])];
  if (o.pxe) args.push("--pxe");
  // Keys arrive read-only from the Secret; the server writes beside them (certificates it
  // reissues, pid file), so they are copied into the volume once, never over newer files.
  const seed = Object.entries(KEY_FILES)
    .map(
      ([key, path]) =>
        `if [ -e /keys/${key} ] && [ ! -e /var/lib/lab/${path} ]; then mkdir -p /var/lib/lab/${path.split("/")[0]} && cp /keys/${key} /var/lib/lab/${path} && chmod 600 /var/lib/lab/${path}; fi`,
    )
    .join("\n");
  const pxePorts = o.pxe
    ? [
        { name: "dhcp", containerPort: 67, protocol: "UDP" },
        { name: "tftp", containerPort: 69, protocol: "UDP" },
        { name: "boot-http", containerPort: 7480, protocol: "TCP" },
        { name: "syslog", containerPort: 5514, protocol: "UDP" },
        { name: "syslog-tcp", containerPort: 5514, protocol: "TCP" },
      ]
    : [];
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: o.namespace, labels: APP } },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: meta("lab-server-state"),
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: o.storage } } },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta("lab-server"),
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: { "app.kubernetes.io/name": "lab-server" } },
        template: {
          metadata: { labels: APP },
          spec: {
            ...(o.pxe ? { hostNetwork: true, dnsPolicy: "ClusterFirstWithHostNet" } : {}),
            initContainers: [
              {
                name: "seed-keys",
                image: o.image,
                command: ["sh", "-c", `set -e\n${seed}`],
                volumeMounts: [
                  { name: "state", mountPath: "/var/lib/lab" },
                  { name: "keys", mountPath: "/keys", readOnly: true },
                ],
              },
            ],
            containers: [
              {
                name: "lab-server",
                image: o.image,
                command: ["lab"],
                args,
                env: [{ name: "LAB_HOME", value: "/var/lib/lab" }],
                ports: [
                  { name: "api", containerPort: 7443, protocol: "TCP" },
                  { name: "agents", containerPort: 7444, protocol: "TCP" },
                  ...pxePorts,
                ],
                readinessProbe: {
                  httpGet: { path: "/readyz", port: "api", scheme: "HTTPS" },
                  periodSeconds: 5,
                },
                livenessProbe: {
                  httpGet: { path: "/healthz", port: "api", scheme: "HTTPS" },
                  initialDelaySeconds: 30,
                  periodSeconds: 20,
                },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  capabilities: o.pxe
                    ? { drop: ["ALL"], add: ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"] }
                    : { drop: ["ALL"] },
                },
                volumeMounts: [{ name: "state", mountPath: "/var/lib/lab" }],
              },
            ],
            // SIGTERM lets in-flight requests finish and closes the database last (30 s, as the unit).
            terminationGracePeriodSeconds: 30,
            volumes: [
              { name: "state", persistentVolumeClaim: { claimName: "lab-server-state" } },
              { name: "keys", secret: { secretName: KEYS_SECRET, defaultMode: 0o400 } },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("lab-server"),
      spec: {
        type: "ClusterIP",
        selector: { "app.kubernetes.io/name": "lab-server" },
        ports: [
          { name: "api", port: 7443, targetPort: "api", protocol: "TCP" },
          { name: "agents", port: 7444, targetPort: "agents", protocol: "TCP" },
        ],
      },
    },
  ];
}

/** The kubectl command that creates the Secret from LAB_HOME (printed, never run here). */
export function secretCommand(namespace: string, home: string, present: (path: string) => boolean): string {
  const files = Object.entries(KEY_FILES)
    .filter(([, path]) => present(path))
    .map(([key, path]) => `--from-file=${key}=${home}/${path}`);
  return `kubectl -n ${namespace} create secret generic ${KEYS_SECRET} ${files.join(" ")}`;
}
