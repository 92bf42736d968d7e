import { env } from "cloudflare:workers";
import { newAuthReqId } from "../../core/approvals/auth-req-id.ts";
import type { OpenApprovalInput } from "../../durable-objects/approval-request.ts";
import { hashSecret, randomSecret } from "../../lib/crypto.ts";
import type { RequestedGrant } from "../../schemas/approval.ts";
import { ApprovalSettingsSchema } from "../../schemas/policy.ts";

export const FROZEN_GRANT: RequestedGrant = {
  agentId: "billing-agent",
  useCaseId: "billing.invoices.refund",
  audience: "https://billing.example.com",
  actions: ["read", "refund"],
  locations: [],
  limits: { max_refund_cents: 50000 },
  ttlSeconds: 300,
  intent: "refund invoice 42",
  context: {},
};

export type OpenedApproval = {
  approvalId: string;
  authReqSecretHash: string;
  /** approver → plaintext link token */
  links: Record<string, string>;
  stub: DurableObjectStub<import("../../durable-objects/approval-request.ts").ApprovalRequest>;
  now: number;
};

/** Opens an approval request directly in its Durable Object, as /bc-authorize would. */
export async function openTestApproval(settingsPatch: Record<string, unknown> = {}, now = Date.now()): Promise<OpenedApproval> {
  const settings = ApprovalSettingsSchema.parse({
    approvers: ["a@example.com", "b@example.com", "c@example.com"],
    quorum: 2,
    approver_auth: [],
    link_only: true,
    ...settingsPatch,
  });
  const ids = newAuthReqId();
  const links = Object.fromEntries(settings.approvers.map((a) => [a, randomSecret()]));
  const input: OpenApprovalInput = {
    approvalId: ids.approvalId,
    requestHash: "test-hash",
    grant: FROZEN_GRANT,
    settings,
    meta: { agentName: "Billing agent", agentOwner: "bob@example.com", useCaseDescription: "Issue refunds" },
    authReqSecretHash: await hashSecret(ids.secret),
    links: await Promise.all(Object.entries(links).map(async ([approver, token]) => ({ approver, tokenHash: await hashSecret(token) }))),
    intervalSeconds: 5,
    now,
  };
  const stub = env.APPROVAL_REQUEST.getByName(ids.approvalId);
  await stub.open(input);
  return { approvalId: ids.approvalId, authReqSecretHash: input.authReqSecretHash, links, stub, now };
}

/** View then decide, as an approver's browser would (the nonce comes from the view). */
export async function decideAs(opened: OpenedApproval, approver: string, decision: "approve" | "deny", at = opened.now + 1000) {
  const tokenHash = await hashSecret(opened.links[approver] ?? "");
  const viewed = await opened.stub.view(tokenHash, at);
  if (!viewed.ok) return { ok: false as const, problem: viewed.problem };
  return opened.stub.decide({ linkTokenHash: tokenHash, nonce: viewed.nonce, decision, authMethod: "link", now: at });
}
