/**
 * The ready virtual lab as a demo: builds the boot network namespace, starts `lab server
 * --pxe` inside it and three halted QEMU VMs with QMP power, applies the model and the labs in
 * labs.yaml, prints how to reach it, and keeps everything up until Ctrl-C (then removes the
 * VMs, the server and the namespaces). Run from the repository, as root:
 *
 *   npm run build && npx vite-node examples/virtual-lab/start.ts
 *
 * It shares test/support/virtual-lab.ts with test/e2e/virtual-lab.test.ts: the demo is the
 * rig the end-to-end test runs. LAB_VLAB_RUN=virtual-3 also runs that lab once and stays up.
 */
import { join } from "node:path";
import { startVirtualLab } from "../../test/support/virtual-lab.js";

const say = (line: string) => process.stdout.write(`virtual lab: ${line}\n`);
const started = Date.now();
const vl = await startVirtualLab({ prefix: "labdemo", say });
say(`ready in ${((Date.now() - started) / 1000).toFixed(0)} s — the VMs are off until a lab powers them on`);
process.stdout.write(`
  dashboard   ${vl.url}/#/login?token=${vl.token}     (Lab's own CA: accept the certificate)
  slideshow   ${vl.url}/#/runs/latest?lab=virtual-3
  CLI         LAB_HOME=${join(vl.home, "cli")} node bin/lab.js run virtual-3
              LAB_HOME=${join(vl.home, "cli")} node bin/lab.js run virtual-3-chaos
              LAB_HOME=${join(vl.home, "cli")} node bin/lab.js run virtual-3-dispatch --repeat 10
              LAB_HOME=${join(vl.home, "cli")} node bin/lab.js run report
  serial      ${vl.machines.map((m) => join(vl.home, "vms", `${m.name}.serial`)).join("\n              ")}

Ctrl-C stops the VMs and the server and removes the namespaces.
`);
if (process.env.LAB_VLAB_RUN) {
  const r = await vl.cli(["run", process.env.LAB_VLAB_RUN]);
  process.stdout.write(r.stdout + r.stderr);
}
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  say("stopping");
  await vl.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
await new Promise(() => {});
