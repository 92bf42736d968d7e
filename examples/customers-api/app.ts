import { Hono } from "hono";
import { writAuth } from "../../verifier/hono.ts";
import type { Verifier, WritGrant } from "../../verifier/index.ts";

/** The use case of policy/demo.policy.json that this route serves; its grants carry `limits.max_rows`. */
export const CUSTOMERS_USE_CASE = "crm.customers.read";
export const CUSTOMERS_LOCATION = "https://crm.example.com/tables/customers";
const DEFAULT_LIMIT = 20;

type LimitRefusal = { error: string; error_description: string; limit?: string; max?: number };

/**
 * The CRM's customers API as a Writ-protected service: only agents holding a `crm.customers.read` token get in,
 * and the token's own limits, not the request, decide how many rows they may read.
 *
 * @example
 * const app = createCustomersApp(createVerifier({ issuer: "http://localhost:8787", audience: "https://crm.example.com" }));
 * export default { fetch: app.fetch };
 */
export function createCustomersApp(verifier: Verifier): Hono {
  const app = new Hono();

  app.get("/customers", writAuth({ verifier, scope: CUSTOMERS_USE_CASE }), (c) => {
    const grant = c.var.writ;
    const allowed = rowsAllowed(grant);
    if (!allowed.ok) return c.json(allowed.refusal, 403);
    const { maxRows } = allowed;

    const requested = c.req.query("limit");
    if (requested !== undefined && !/^[1-9][0-9]{0,5}$/.test(requested))
      return c.json({ error: "invalid_request", error_description: "limit must be a positive integer" }, 400);
    const limit = requested === undefined ? Math.min(DEFAULT_LIMIT, maxRows) : Number(requested);
    if (limit > maxRows) {
      const body: LimitRefusal = {
        error: "limit_exceeded",
        error_description: `limit ${limit} exceeds the grant's max_rows of ${maxRows}`,
        limit: "max_rows",
        max: maxRows,
      };
      return c.json(body, 403);
    }
    return c.json({ rows: fakeCustomers(limit), limit, agent: grant.agent });
  });

  return app;
}

/**
 * The grant may have been narrowed below what the use case allows (RFC 9396), so the service checks what it got.
 * A grant without a usable max_rows is refused: a missing limit must never read as "unlimited".
 */
function rowsAllowed(grant: WritGrant): { ok: true; maxRows: number } | { ok: false; refusal: LimitRefusal } {
  const refuse = (error_description: string, limit?: string) => ({
    ok: false as const,
    refusal: { error: "insufficient_authorization", error_description, ...(limit === undefined ? {} : { limit }) },
  });
  if (!grant.actions.includes("read")) return refuse('the grant does not include the "read" action');
  if (!grant.locations.includes(CUSTOMERS_LOCATION)) return refuse("the grant does not include the customers table");
  const maxRows = grant.limits.max_rows;
  if (typeof maxRows !== "number" || !Number.isInteger(maxRows) || maxRows < 0)
    return refuse("the grant carries no max_rows limit", "max_rows");
  return { ok: true, maxRows };
}

function fakeCustomers(count: number): { id: string; company: string; plan: string }[] {
  const plans = ["free", "team", "enterprise"];
  return Array.from({ length: count }, (_, i) => ({
    id: `cus_${String(i + 1).padStart(4, "0")}`,
    company: `Example Company ${i + 1}`,
    plan: plans[i % plans.length] ?? "free",
  }));
}
