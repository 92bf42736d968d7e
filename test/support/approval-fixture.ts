/** Approval requests opened directly in their Durable Object, as /bc-authorize opens them, and decided as an approver's browser would. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { newAuthReqId } from "../../core/approvals/auth-req-id.ts";
import { requestHash } from "../../core/approvals/request-hash.ts";
import type { ApprovalRequest, OpenApprovalInput } from "../../durable-objects/approval-request.ts";
import { hashSecret, randomSecret } from "../../lib/crypto.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { ApprovalSettingsSchema } from "../../schemas/policy.ts";
import { DETAILED_REFUND_GRANT, FROZEN_GRANT } from "./grants.ts";

export { FROZEN_GRANT };

export type OpenedApproval = {
  approvalId: string;
  authReqSecretHash: string;
  /** approver → plaintext link token */
  links: Record<string, string>;
  stub: DurableObjectStub<ApprovalRequest>;
  now: number;
  requestHash: string;
};

export type OpenApprovalOptions = {
  settings?: Record<string, unknown>;
  grant?: Partial<RequestedGrant>;
  meta?: Partial<OpenApprovalInput["meta"]>;
  now?: number;
  /** What the request is said to hash to; the grant's real hash unless a test pins one. */
  requestHash?: string;
};

/** Opens a request of three link-only approvers (quorum 1) for a refund; every call gets its own id. */
export async function openApproval(opts: OpenApprovalOptions = {}): Promise<OpenedApproval> {
  const now = opts.now ?? Date.now();
  const settings = ApprovalSettingsSchema.parse({
    approvers: ["ann@example.com", "ben@example.com", "bob@example.com"],
    quorum: 1,
    approver_auth: [],
    link_only: true,
    ...opts.settings,
  });
  const grant = { ...DETAILED_REFUND_GRANT, ...opts.grant };
  const hash = opts.requestHash ?? (await requestHash(grant));
  const ids = newAuthReqId();
  const links = Object.fromEntries(settings.approvers.map((a) => [a, randomSecret()]));
  const authReqSecretHash = await hashSecret(ids.secret);
  const stub = env.APPROVAL_REQUEST.getByName(ids.approvalId);
  await stub.open({
    approvalId: ids.approvalId,
    requestHash: hash,
    grant,
    settings,
    meta: { agentName: "Billing agent", agentOwner: "bob@example.com", useCaseDescription: "Refund an invoice", ...opts.meta },
    authReqSecretHash,
    links: await Promise.all(Object.entries(links).map(async ([approver, token]) => ({ approver, tokenHash: await hashSecret(token) }))),
    intervalSeconds: 5,
    now,
  });
  return { approvalId: ids.approvalId, authReqSecretHash, links, stub, now, requestHash: hash };
}

/** The request the Durable Object tests decide: approvers a, b and c, quorum 2, the frozen refund, a pinned hash. */
export function openTestApproval(settingsPatch: Record<string, unknown> = {}, now = Date.now()): Promise<OpenedApproval> {
  return openApproval({
    settings: { approvers: ["a@example.com", "b@example.com", "c@example.com"], quorum: 2, ...settingsPatch },
    grant: FROZEN_GRANT,
    meta: { useCaseDescription: "Issue refunds" },
    requestHash: "test-hash",
    now,
  });
}

/** View then decide, as an approver's browser would (the nonce comes from the view). */
export async function decideAs(opened: OpenedApproval, approver: string, decision: "approve" | "deny", at = opened.now + 1000) {
  const tokenHash = await hashSecret(opened.links[approver] ?? "");
  const viewed = await opened.stub.view(tokenHash, at);
  if (!viewed.ok) return { ok: false as const, problem: viewed.problem };
  return opened.stub.decide({ linkTokenHash: tokenHash, nonce: viewed.nonce, decision, authMethod: "link", now: at });
}

/** The approval page of one approver: their link. */
export function pagePath(opened: OpenedApproval, approver: string): string {
  return `/approvals/${opened.approvalId}?t=${opened.links[approver]}`;
}

/** The request's stored status and decisions, read straight from its storage. */
export function stored(
  opened: OpenedApproval,
): Promise<{ status: string; decisions: { approver: string; decision: string; auth_method: string }[]; usedLinks: number }> {
  return runInDurableObject(opened.stub, (_instance, state) => {
    const sql = state.storage.sql;
    return {
      status: sql.exec<{ status: string }>("SELECT status FROM request").one().status,
      decisions: sql
        .exec<{ approver: string; decision: string; auth_method: string }>(
          "SELECT approver, decision, auth_method FROM decisions ORDER BY approver",
        )
        .toArray(),
      usedLinks: sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM links WHERE used_at IS NOT NULL").one().n,
    };
  });
}
