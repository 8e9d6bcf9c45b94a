/**
 * The bastion ↔ control plane protocol: JSON messages over one WebSocket the bastion opens
 * (outbound, mTLS with its enrolled certificate) to `/bastion/v1` on the agent channel's port.
 *
 * Delivery is by the bastion's own database: every timeline step it records has an id, the
 * control plane stores the steps and the bastion's `acked_seq` in one transaction and says
 * which id it has (`welcome`, `ack`); after any outage the bastion resends from there, so a
 * step is stored once however often the link drops. Machines are small and few per site: the
 * bastion sends them whole (a complete snapshot on every connect, then each change).
 */
import { MACHINE_STATES } from "@lab/core";
import { z } from "zod";

export const BASTION_PATH = "/bastion/v1";
export const BASTION_PROTOCOL_VERSION = 1;
/** Steps per `steps` message: a backlog after a long outage goes in bounded frames. */
export const STEPS_PER_FRAME = 500;

const machineSchema = z.object({
  mac: z.string().max(64),
  name: z.string().max(253).nullable(),
  bastion: z.string().max(253).nullable(),
  state: z.enum(MACHINE_STATES),
  reason: z.string().max(4000).nullable(),
  image: z.string().max(253).nullable(),
  stage: z.string().max(64).nullable(),
  ip: z.string().max(64).nullable(),
  debug: z.boolean(),
  preserve: z.array(z.string().max(4096)).max(64),
  hardware: z.record(z.string(), z.unknown()).nullable(),
  createdAt: z.string().max(40),
  updatedAt: z.string().max(40),
});
export type WireMachine = z.infer<typeof machineSchema>;

const stepSchema = z.object({
  id: z.number().int().positive(),
  mac: z.string().max(64),
  time: z.string().max(40),
  kind: z.enum(["dhcp", "tftp", "http", "progress", "syslog", "state"]),
  type: z.string().max(500),
  detail: z.record(z.string(), z.unknown()),
});
export type WireStep = z.infer<typeof stepSchema>;

const errorSchema = z.object({ code: z.string().max(64), message: z.string().max(4000) });

export const bastionMessageSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    protocol: z.number().int(),
    version: z.string().max(64),
    /** Where this site's machines boot from (its boot HTTP), null when it serves none yet. */
    bootUrl: z.string().max(2048).nullable(),
    /** The model revision the bastion holds (0: none yet). */
    revision: z.number().int().nonnegative(),
  }),
  z.object({
    type: z.literal("machines"),
    machines: z.array(machineSchema).max(100_000),
    /** A full snapshot: machines of this bastion the control plane has and this lacks are gone. */
    complete: z.boolean(),
  }),
  z.object({ type: z.literal("forgotten"), mac: z.string().max(64) }),
  z.object({ type: z.literal("steps"), steps: z.array(stepSchema).min(1).max(STEPS_PER_FRAME) }),
  z.object({
    type: z.literal("result"),
    id: z.string().max(64),
    machine: machineSchema.optional(),
    error: errorSchema.optional(),
  }),
  z.object({ type: z.literal("join-token"), id: z.string().max(64), name: z.string().max(253) }),
]);
export type BastionMessage = z.infer<typeof bastionMessageSchema>;

export const COMMANDS = ["enlist", "install", "reprovision", "debug", "forget"] as const;
export type BastionCommand = (typeof COMMANDS)[number];

const resourceSchema = z.object({
  kind: z.string().max(64),
  name: z.string().max(512),
  spec: z.unknown(),
});

export const hubMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("welcome"), name: z.string(), ackedSeq: z.number().int().nonnegative() }),
  z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() }),
  z.object({
    type: z.literal("model"),
    revision: z.number().int().nonnegative(),
    resources: z.array(resourceSchema),
  }),
  z.object({
    type: z.literal("command"),
    id: z.string().max(64),
    action: z.enum(COMMANDS),
    /** A MAC (the control plane resolves names before routing). */
    mac: z.string().max(64),
    args: z.record(z.string(), z.unknown()),
  }),
  z.object({
    type: z.literal("join-token"),
    id: z.string().max(64),
    token: z.string().optional(),
    error: errorSchema.optional(),
  }),
]);
export type HubMessage = z.infer<typeof hubMessageSchema>;
