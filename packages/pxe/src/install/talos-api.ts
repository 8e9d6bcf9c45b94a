/**
 * The one Talos API call Lab makes: `machine.MachineService/ApplyConfiguration`, the call
 * `talosctl apply-config --insecure` makes to a node in maintenance mode. gRPC is HTTP/2 with
 * length-prefixed protobuf messages, and this request is two fields, so Lab speaks it with
 * node:http2 instead of requiring talosctl on the server.
 *
 * Maintenance mode serves a self-signed certificate (the node has no identity yet), so the
 * certificate is not checked — as with `--insecure`. What makes the push safe is where it
 * goes: the address the node itself booted from, right after Lab dispatched its install; and
 * that the machine config never sits on an HTTP URL (pull mode's weakness).
 *
 *   message ApplyConfigurationRequest { bytes data = 1; Mode mode = 4; bool dry_run = 5; }
 *   enum Mode { REBOOT = 0; AUTO = 1; NO_REBOOT = 2; STAGED = 3; TRY = 4; }
 *   message ApplyConfigurationResponse { repeated ApplyConfiguration messages = 1; }
 *   message ApplyConfiguration { Metadata metadata = 1; repeated string warnings = 2;
 *                                Mode mode = 3; string mode_details = 4; }
 */
import http2 from "node:http2";
import { LabError } from "@lab/core";

export const APPLY_CONFIGURATION_PATH = "/machine.MachineService/ApplyConfiguration";
export const TALOS_APPLY_MODES = { reboot: 0, auto: 1, "no-reboot": 2, staged: 3, try: 4 } as const;
export type TalosApplyMode = keyof typeof TALOS_APPLY_MODES;

export interface ApplyResult {
  warnings: string[];
  modeDetails: string | null;
}

export interface ApplyOptions {
  host: string;
  port: number;
  /** The rendered machine config (YAML). */
  config: string;
  mode?: TalosApplyMode;
  dryRun?: boolean;
  timeoutMs?: number;
}

/** Applies a machine config to a Talos node's API; LabError when it is refused or unreachable. */
export function applyTalosConfig(o: ApplyOptions): Promise<ApplyResult> {
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  const message = encodeApplyRequest(
    Buffer.from(o.config, "utf8"),
    TALOS_APPLY_MODES[o.mode ?? "auto"],
    o.dryRun,
  );
  return new Promise((resolve, reject) => {
    const fail = (code: "LAB_E_TALOS_UNREACHABLE" | "LAB_E_TALOS_REJECTED", why: string) => {
      session.destroy();
      reject(new LabError(code, `Talos API at ${o.host}:${o.port}: ${why}`));
    };
    const session = http2.connect(`https://${host}:${o.port}`, { rejectUnauthorized: false });
    session.on("error", (e) =>
      fail("LAB_E_TALOS_UNREACHABLE", (e as NodeJS.ErrnoException).code ?? e.message),
    );
    session.setTimeout(o.timeoutMs ?? 30_000, () => fail("LAB_E_TALOS_UNREACHABLE", "no answer in time"));
    const req = session.request({
      ":method": "POST",
      ":path": APPLY_CONFIGURATION_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${Math.ceil((o.timeoutMs ?? 30_000) / 1000)}S`,
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let grpcMessage = "";
    const note = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    req.on("response", (h) => {
      if (h[":status"] !== 200)
        return fail("LAB_E_TALOS_UNREACHABLE", `HTTP ${h[":status"]} (is this a Talos API?)`);
      note(h); // a trailers-only answer carries the status in the headers
    });
    req.on("trailers", note);
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", (e) => fail("LAB_E_TALOS_UNREACHABLE", e.message));
    req.on("end", () => {
      session.close();
      if (status === undefined)
        return reject(
          new LabError(
            "LAB_E_TALOS_UNREACHABLE",
            `Talos API at ${o.host}:${o.port}: the answer had no gRPC status`,
          ),
        );
      if (status !== "0")
        return reject(
          new LabError(
            "LAB_E_TALOS_REJECTED",
            `the node refused its config (gRPC ${status}${grpcMessage ? `: ${grpcMessage}` : ""})`,
          ),
        );
      try {
        resolve(decodeApplyResponse(unframe(Buffer.concat(chunks))));
      } catch (e) {
        reject(
          new LabError(
            "LAB_E_TALOS_UNREACHABLE",
            `Talos API at ${o.host}:${o.port}: ${(e as Error).message}`,
          ),
        );
      }
    });
    req.end(frame(message));
  });
}

// ── protobuf and gRPC framing, as much as these two messages need ──────────────────────────

export function encodeApplyRequest(data: Buffer, mode: number, dryRun = false): Buffer {
  const parts = [Buffer.from([0x0a]), varint(data.length), data];
  if (mode !== 0) parts.push(Buffer.from([0x20]), varint(mode));
  if (dryRun) parts.push(Buffer.from([0x28, 1]));
  return Buffer.concat(parts);
}

/** Fields of one message: number → values (varints as numbers, length-delimited as Buffers). */
export function decodeFields(buf: Buffer): Map<number, (number | Buffer)[]> {
  const fields = new Map<number, (number | Buffer)[]>();
  let at = 0;
  const read = (): number => {
    let shift = 0;
    let value = 0;
    for (;;) {
      if (at >= buf.length) throw new Error("truncated protobuf varint");
      const b = buf[at++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
      shift += 7;
      if (shift > 63) throw new Error("protobuf varint too long");
    }
  };
  while (at < buf.length) {
    const key = read();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: number | Buffer;
    if (wire === 0) value = read();
    else if (wire === 2) {
      const len = read();
      if (at + len > buf.length) throw new Error("truncated protobuf field");
      value = buf.subarray(at, at + len);
      at += len;
    } else if (wire === 1) {
      at += 8;
      continue;
    } else if (wire === 5) {
      at += 4;
      continue;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

function decodeApplyResponse(message: Buffer | null): ApplyResult {
  const result: ApplyResult = { warnings: [], modeDetails: null };
  if (!message) return result;
  for (const m of decodeFields(message).get(1) ?? []) {
    if (!Buffer.isBuffer(m)) continue;
    const f = decodeFields(m);
    for (const w of f.get(2) ?? []) if (Buffer.isBuffer(w)) result.warnings.push(w.toString("utf8"));
    const details = f.get(4)?.[0];
    if (Buffer.isBuffer(details)) result.modeDetails = details.toString("utf8");
  }
  return result;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A gRPC message on the wire: not compressed (0), 4-byte big-endian length, the message. */
export function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The first message of a gRPC body (null when empty). */
export function unframe(body: Buffer): Buffer | null {
  if (body.length === 0) return null;
  if (body.length < 5) throw new Error("a truncated gRPC frame");
  if (body[0] !== 0) throw new Error("a compressed gRPC answer (not asked for)");
  const len = body.readUInt32BE(1);
  if (body.length < 5 + len) throw new Error("a truncated gRPC message");
  return body.subarray(5, 5 + len);
}
