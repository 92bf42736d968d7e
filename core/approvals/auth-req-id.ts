import { randomSecret } from "../../lib/crypto.ts";

const APPROVAL_ID_BYTES = 16;
/** 16 random bytes in base64url: 22 characters, the last carrying only two bits (so one of A, Q, g, w). */
const APPROVAL_ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/**
 * `auth_req_id` = `<approval id>.<secret>`. The approval id names the request's Durable Object and appears in
 * approvers' links; the secret (stored only as a hash) is what makes the auth_req_id unguessable (CIBA §7.3).
 */
export function newAuthReqId(): { approvalId: string; secret: string; authReqId: string } {
  const approvalId = randomSecret(APPROVAL_ID_BYTES);
  const secret = randomSecret();
  return { approvalId, secret, authReqId: `${approvalId}.${secret}` };
}

export function parseAuthReqId(authReqId: string): { approvalId: string; secret: string } | undefined {
  const [approvalId, secret, extra] = authReqId.split(".");
  if (extra !== undefined || approvalId === undefined || secret === undefined) return undefined;
  return isApprovalId(approvalId) && SECRET.test(secret) ? { approvalId, secret } : undefined;
}

/** Whether `id` is an approval id Writ could have generated; checked before the id names a Durable Object. */
export function isApprovalId(id: string): boolean {
  return APPROVAL_ID.test(id);
}
