/**
 * Power on the API (the CLI in client mode, the dashboard's buttons):
 *
 *   GET  /api/v1/power                  read   every server's power, asked now (?name=a,b)
 *   GET  /api/v1/power/:name            read   one server's
 *   POST /api/v1/power/:name/on|off|cycle   write  {nextBoot?: pxe|disk}
 *   PUT  /api/v1/power/:name/next-boot  write  {device: pxe|disk}
 *
 * Changes appear on the event streams as `power.*` audit events (`power.changed` when the
 * poller saw a switch Lab did not make).
 */
import type { PowerControl } from "@lab/power";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parse, type RouteAuth } from "./routes.js";

const nameParam = z.object({ name: z.string().min(1).max(253) });
const actionParam = nameParam.extend({
  action: z.enum(["on", "off", "cycle"], { error: "the action is on, off or cycle" }),
});
const actionBody = z.object({ nextBoot: z.enum(["pxe", "disk"]).optional() }).strict();
const bootBody = z.object({ device: z.enum(["pxe", "disk"], { error: "device is pxe or disk" }) }).strict();
const listQuery = z.object({ name: z.string().max(10_000).optional() });

export function registerPowerRoutes(
  app: FastifyInstance,
  power: PowerControl,
  { auth, actorOf }: RouteAuth,
): void {
  app.get("/api/v1/power", { preHandler: auth("read") }, async (req) => {
    const { name } = parse(listQuery, req.query);
    return power.status(name ? name.split(",").filter(Boolean) : undefined);
  });
  app.get("/api/v1/power/:name", { preHandler: auth("read") }, async (req) => {
    const { name } = parse(nameParam, req.params);
    return (await power.status([name]))[0];
  });
  app.post("/api/v1/power/:name/:action", { preHandler: auth("write") }, async (req) => {
    const { name, action } = parse(actionParam, req.params);
    const { nextBoot } = parse(actionBody, req.body ?? {});
    return power.act(name, action, actorOf(req), nextBoot);
  });
  app.put("/api/v1/power/:name/next-boot", { preHandler: auth("write") }, async (req) => {
    const { name } = parse(nameParam, req.params);
    const { device } = parse(bootBody, req.body);
    return power.setNextBoot(name, device, actorOf(req));
  });
}
