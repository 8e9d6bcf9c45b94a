/** The file operation every module uses: a file with exact content and mode, checked by hash. */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { quote } from "./executor.js";
import { type Group, must, type Operation } from "./operation.js";

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Observes `sha256 mode` of a path ("absent" when there is none). */
export function statScript(path: string): string {
  const p = quote(path);
  return `if [ -f ${p} ]; then printf '%s %s\\n' "$(sha256sum < ${p} | cut -d' ' -f1)" "$(stat -c %a ${p})"; else echo absent; fi`;
}

export function fileOp(
  group: Group,
  name: string,
  path: string,
  content: Buffer | string,
  mode: number,
): Operation {
  const data = Buffer.from(content);
  const want = sha256(data);
  const wantMode = mode.toString(8);
  return {
    group,
    name,
    async check(x) {
      const seen = (await must(x, statScript(path), `reading ${path}`)).trim();
      if (seen === "absent") return { ok: false, detail: `${path} absent` };
      const [hash, m] = seen.split(" ");
      if (hash !== want) return { ok: false, detail: `${path} differs` };
      if (m !== wantMode) return { ok: false, detail: `${path} mode ${m}, want ${wantMode}` };
      return { ok: true, detail: path };
    },
    async change(x) {
      await must(x, `mkdir -p ${quote(dirname(path))}`, `creating ${dirname(path)}`);
      await x.upload(data, path, mode);
      return `wrote ${path}`;
    },
  };
}
