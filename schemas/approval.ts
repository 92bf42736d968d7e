import * as z from "zod";
import { APPROVER_AUTH_METHODS } from "./policy.ts";

/**
 * Exactly what a token for an approved request will say. Frozen when the request is made, hashed, shown
 * to approvers and stored in the request's Durable Object: an approval covers this and nothing else.
 */
export const RequestedGrantSchema = z.object({
  agentId: z.string(),
  useCaseId: z.string(),
  audience: z.string(),
  actions: z.array(z.string()),
  locations: z.array(z.string()),
  limits: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  ttlSeconds: z.number().int().positive(),
  intent: z.string().optional(),
  context: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export const APPROVAL_STATUSES = ["pending", "approved", "denied", "expired", "cancelled"] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];
export type ApproverAuthMethod = (typeof APPROVER_AUTH_METHODS)[number] | "link";

export const DecisionSchema = z.object({
  approver: z.email(),
  decision: z.enum(["approve", "deny"]),
  /** Epoch milliseconds. */
  at: z.number().int(),
  /** How the approver proved who they are on top of holding the link. */
  authMethod: z.enum([...APPROVER_AUTH_METHODS, "link"]),
});

/** What the approval page shows: everything needed to judge, nothing secret. */
export const ApprovalViewSchema = z.object({
  approvalId: z.string(),
  status: z.enum(APPROVAL_STATUSES),
  grant: RequestedGrantSchema,
  requestHash: z.string(),
  agentName: z.string(),
  agentOwner: z.string().optional(),
  useCaseDescription: z.string(),
  bindingMessage: z.string().optional(),
  requestedAt: z.number().int(),
  expiresAt: z.number().int(),
  quorum: z.number().int(),
  groups: z.record(z.string(), z.object({ members: z.array(z.string()), min: z.number().int() })),
  approvers: z.array(z.string()),
  decisions: z.array(DecisionSchema),
  /** The approver this link belongs to. */
  viewer: z.email(),
  approverAuth: z.array(z.enum(APPROVER_AUTH_METHODS)),
  linkOnly: z.boolean(),
});

export type RequestedGrant = z.infer<typeof RequestedGrantSchema>;
export type Decision = z.infer<typeof DecisionSchema>;
export type ApprovalView = z.infer<typeof ApprovalViewSchema>;
