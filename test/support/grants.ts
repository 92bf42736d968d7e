import type { RequestedGrant } from "../../schemas/approval.ts";

/** A refund as /bc-authorize freezes it: the smallest grant that still has actions, limits and an intent. */
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

/** The same refund with everything an approval page shows: locations, a string limit, context. */
export const DETAILED_REFUND_GRANT: RequestedGrant = {
  ...FROZEN_GRANT,
  locations: ["https://billing.example.com/invoices"],
  limits: { max_refund_cents: 50000, currency: "EUR" },
  intent: "Refund invoice 42 after the customer's complaint",
  context: { ticket: "SUP-1234" },
};
