/**
 * The dashboard at `/`: the built single-page app from dist/web (see @lab/web), served as
 * static files. The page itself holds no data; everything it shows comes from /api/v1 with
 * the user's token, so the API's scopes are what protect the fleet, not the page.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LabError } from "@lab/core";
import { webDistDir } from "@lab/web";
import type { FastifyInstance } from "fastify";

const TYPES: Record<string, string> = {
  "app.js": "application/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "app.js.map": "application/json",
  "app.css.map": "application/json",
};

export function registerDashboard(app: FastifyInstance, dir = webDistDir()): void {
  // Read once: the files are small and never change while the server runs.
  const files = new Map<string, Buffer>();
  const read = (name: string): Buffer | undefined => {
    if (!dir) return undefined;
    let body = files.get(name);
    if (!body) {
      try {
        body = readFileSync(join(dir, name));
      } catch {
        return undefined;
      }
      files.set(name, body);
    }
    return body;
  };
  const page = async (_req: unknown, reply: import("fastify").FastifyReply) => {
    const html = read("index.html");
    if (!html) {
      throw new LabError(
        "LAB_E_NOT_FOUND",
        "the dashboard was not built: run `npm run build` (it writes dist/web), then restart lab server",
      );
    }
    return reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(html);
  };
  app.get("/", page);
  app.get("/kiosk", page);
  app.get("/assets/:file", async (req, reply) => {
    const file = (req.params as { file: string }).file;
    const type = TYPES[file];
    const body = type ? read(file) : undefined;
    if (!type || !body) throw new LabError("LAB_E_NOT_FOUND", `no dashboard file ${file}`);
    return reply.type(type).header("cache-control", "no-cache").send(body);
  });
}
