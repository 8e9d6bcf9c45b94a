/**
 * EC2 on RECORDED responses: no AWS is reachable here, so the aws provider's contract suite runs
 * against a recording — an ordered list of EC2 Query API exchanges (test/fixtures/aws/*.json,
 * response bodies in the XML shapes of the EC2 API reference, assembled by hand, not captured
 * from a live account) replayed by a request handler injected into the SDK's EC2Client.
 *
 * Replay is strict where it matters: a mutating call (RunInstances, StopInstances, …) must be
 * the next one recorded and carry the recorded parameters, or the handler answers 400 with
 * what it expected, and the test fails. A read (Describe*) that is not next repeats the last
 * answer to that read, as a real API would until something changes; `outside` marks where the
 * recording has a person change the instance in the console, passed with `outside()`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";

export interface Exchange {
  action?: string;
  /** Request parameters that must be present with these values. */
  match?: Record<string, string>;
  status?: number;
  body?: string;
  /** A change made outside Lab at this point of the recording (no request). */
  outside?: string;
}

export interface Recording {
  description: string;
  exchanges: Exchange[];
}

interface HttpRequestLike {
  method: string;
  body?: unknown;
  headers: Record<string, string>;
}

export class RecordedEc2 {
  private pos = 0;
  private last = new Map<string, Exchange>();
  /** Every request's Action, in order (what the peer reads around the provider). */
  readonly log: string[] = [];
  readonly mismatches: string[] = [];

  constructor(readonly recording: Recording) {}

  static load(file: string): RecordedEc2 {
    return new RecordedEc2(
      JSON.parse(readFileSync(join(import.meta.dirname, "../fixtures/aws", file), "utf8")),
    );
  }

  /** Passes the recording's next `outside` mark (a console change), returning its words. */
  outside(): string {
    const next = this.recording.exchanges[this.pos];
    if (!next?.outside)
      throw new Error(`the recording has no outside change next (next: ${next?.action ?? "end"})`);
    this.pos++;
    for (const k of [...this.last.keys()]) this.last.delete(k);
    return next.outside;
  }

  /** The request handler for EC2Client's `requestHandler`. */
  handler() {
    return {
      handle: async (request: HttpRequestLike) => ({ response: this.answer(request) }),
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
      destroy: () => undefined,
    };
  }

  private answer(request: HttpRequestLike) {
    const params = new URLSearchParams(String(request.body ?? ""));
    const action = params.get("Action") ?? "?";
    this.log.push(action);
    const next = this.recording.exchanges[this.pos];
    let ex: Exchange | undefined;
    if (next?.action === action) {
      ex = next;
      this.pos++;
      this.last.set(action, next);
    } else if (action.startsWith("Describe") && this.last.has(action)) {
      ex = this.last.get(action);
    }
    if (!ex)
      return this.error(
        `the recording has ${next?.action ?? next?.outside ?? "nothing"} next, not ${action}`,
      );
    for (const [k, v] of Object.entries(ex.match ?? {})) {
      if (params.get(k) !== v) return this.error(`${action}: expected ${k}=${v}, got ${params.get(k)}`);
    }
    return response(ex.status ?? 200, ex.body ?? "");
  }

  private error(message: string) {
    this.mismatches.push(message);
    return response(
      400,
      `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RecordingMismatch</Code><Message>${message}</Message></Error></Errors><RequestID>recorded</RequestID></Response>`,
    );
  }
}

function response(statusCode: number, body: string) {
  return {
    statusCode,
    reason: statusCode === 200 ? "OK" : "Bad Request",
    headers: { "content-type": "text/xml;charset=UTF-8", "x-amzn-requestid": "recorded" },
    body: Readable.from([Buffer.from(body)]),
  };
}
