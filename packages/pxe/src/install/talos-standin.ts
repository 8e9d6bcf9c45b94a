/**
 * A STAND-IN for a Talos node's maintenance-mode API, for tests (no Talos runs here): an
 * HTTP/2 TLS server with a self-signed certificate, as maintenance mode has, that answers
 * `ApplyConfiguration` like Talos — it decodes the request, keeps the config, and answers an
 * ApplyConfigurationResponse, or refuses with a gRPC status when told to.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APPLY_CONFIGURATION_PATH, decodeFields, frame, unframe } from "./talos-api.js";

export interface AppliedConfig {
  config: string;
  mode: number;
  dryRun: boolean;
}

export interface TalosStandIn {
  port: number;
  applied: AppliedConfig[];
  /** The next answers refuse with this gRPC status and message (until cleared with null). */
  refuse(with_: { status: number; message: string } | null): void;
  close(): Promise<void>;
}

function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "lab-talos-standin-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=talos-maintenance",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startTalosStandIn(host = "127.0.0.1", port = 0): Promise<TalosStandIn> {
  const applied: AppliedConfig[] = [];
  let refusal: { status: number; message: string } | null = null;
  const server = http2.createSecureServer(selfSigned());
  server.on("stream", (stream, headers) => {
    if (headers[":path"] !== APPLY_CONFIGURATION_PATH || headers["content-type"] !== "application/grpc") {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "12" },
        { endStream: true },
      );
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const fields = decodeFields(unframe(Buffer.concat(chunks)) ?? Buffer.alloc(0));
      const data = fields.get(1)?.[0];
      if (refusal) {
        const r = refusal;
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": String(r.status),
            "grpc-message": encodeURIComponent(r.message),
          },
          { endStream: true },
        );
        return;
      }
      applied.push({
        config: Buffer.isBuffer(data) ? data.toString("utf8") : "",
        mode: Number(fields.get(4)?.[0] ?? 0),
        dryRun: Number(fields.get(5)?.[0] ?? 0) === 1,
      });
      // ApplyConfigurationResponse{ messages: [ApplyConfiguration{ mode_details: "…" }] }
      const details = Buffer.from("Applied configuration without a reboot (stand-in)");
      const inner = Buffer.concat([Buffer.from([0x22, details.length]), details]);
      const outer = Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame(outer));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    applied,
    refuse: (r) => {
      refusal = r;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
