/**
 * `parseAccessTokenClaims` answers most tokens without zod (schemas/access-token.ts). That is only safe while its
 * hand-written check accepts nothing the schema refuses and gives back what the schema would: these hold it to
 * `AccessTokenClaimsSchema.safeParse` on the broker's claims, on claims with members replaced by arbitrary JSON,
 * and on the edge cases the check hands to the schema on purpose.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AccessTokenClaimsSchema, parseAccessTokenClaims } from "../../schemas/access-token.ts";
import { accessClaims } from "../support/access-tokens.ts";
import { checkProperty, PROPERTY_TIMEOUT_MS } from "../support/fuzz.ts";

/** Same acceptance, same refusal issues, and (when accepted) equal data. */
function expectSameAsSchema(value: unknown): void {
  const fast = parseAccessTokenClaims(value);
  const schema = AccessTokenClaimsSchema.safeParse(value);
  expect(fast.success).toBe(schema.success);
  if (fast.success && schema.success) expect(fast.data).toStrictEqual(schema.data);
  else expect(fast.error?.issues).toEqual(schema.error?.issues);
}

const json = (text: string): unknown => JSON.parse(text);
const granted = { type: "agent_use_case", use_case: "crm.customers.read", actions: ["read"], locations: ["t"], limits: { max_rows: 1 } };
const act = (depth: number): unknown => (depth === 0 ? undefined : { sub: `agent-${depth}`, act: act(depth - 1) });

/** Member paths of the claims that a replacement value is tried at. */
const PATHS: readonly (readonly (string | number)[])[] = [
  ["iss"],
  ["sub"],
  ["aud"],
  ["client_id"],
  ["iat"],
  ["nbf"],
  ["exp"],
  ["jti"],
  ["scope"],
  ["intent"],
  ["approval"],
  ["approval", "approved_by"],
  ["approval", "approved_at"],
  ["approval", "request_hash"],
  ["approval", "extra"],
  ["cnf"],
  ["cnf", "jkt"],
  ["cnf", "x5t#S256"],
  ["agent_auth"],
  ["agent_auth", "method"],
  ["agent_auth", "iss"],
  ["act"],
  ["act", "sub"],
  ["act", "act"],
  ["act", "act", "sub"],
  ["act", "extra"],
  ["tenant"],
  ["authorization_details"],
  ["authorization_details", 0],
  ["authorization_details", 1],
  ["authorization_details", 0, "type"],
  ["authorization_details", 0, "use_case"],
  ["authorization_details", 0, "actions"],
  ["authorization_details", 0, "actions", 0],
  ["authorization_details", 0, "locations"],
  ["authorization_details", 0, "limits"],
  ["authorization_details", 0, "limits", "max_rows"],
  ["authorization_details", 0, "extra"],
];

/** Full claims (every optional member present), so that each path has a parent to set into. */
function fullClaims(): Record<string, unknown> {
  return structuredClone(
    accessClaims({
      intent: "look up SUP-42",
      approval: { id: "apr_1", approved_by: ["dana@example.com"], approved_at: 1_700_000_000, request_hash: "h" },
      cnf: { jkt: "thumbprint" },
      agent_auth: { method: "workload_identity", iss: "https://issuer.example", sub: "wl" },
      act: act(2),
    }),
  );
}

function setAt(target: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let parent: unknown = target;
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[key];
  (parent as Record<string | number, unknown>)[path.at(-1) as string | number] = value;
}

describe("parseAccessTokenClaims answers as AccessTokenClaimsSchema does", () => {
  it("on the broker's claims, with and without every optional member", () => {
    expectSameAsSchema(accessClaims());
    expectSameAsSchema(fullClaims());
    expect(parseAccessTokenClaims(accessClaims()).success).toBe(true);
  });

  it("on claims with one or two members replaced by any JSON value (or removed)", { timeout: PROPERTY_TIMEOUT_MS }, async () => {
    const replacement = fc.record({ path: fc.constantFrom(...PATHS), value: fc.option(fc.jsonValue(), { nil: undefined }) });
    await checkProperty(
      fc.property(fc.boolean(), fc.array(replacement, { minLength: 1, maxLength: 2 }), (full, changes) => {
        const claims = full ? fullClaims() : structuredClone(accessClaims());
        for (const { path, value } of changes) {
          try {
            setAt(claims, path, value);
          } catch {
            // The parent was replaced by a primitive by an earlier change: nothing to set into.
          }
        }
        // Through JSON, as jose hands the payload over (and `undefined` members disappear).
        expectSameAsSchema(JSON.parse(JSON.stringify(claims)));
      }),
      2000,
    );
  });

  it("on the edge cases the check leaves to the schema", () => {
    const base = JSON.stringify(accessClaims());
    expectSameAsSchema(json(`${base.slice(0, -1)},"__proto__":{"scope":"x"}}`));
    expectSameAsSchema(json(base.replace('"limits":{', '"limits":{"__proto__":1,')));
    expectSameAsSchema(accessClaims({ act: json('{"sub":"a","__proto__":{"sub":"b"}}') }));
    expectSameAsSchema(accessClaims({ authorization_details: [{ ...granted, extra: 1 }] }));
    expectSameAsSchema(accessClaims({ authorization_details: [granted, granted] }));
    expectSameAsSchema(accessClaims({ authorization_details: [{ ...granted, limits: [] }] }));
    expectSameAsSchema(accessClaims({ cnf: { jkt: "t", extra: 1 } }));
    expectSameAsSchema(accessClaims({ iat: 2 ** 60 }));
    expectSameAsSchema(accessClaims({ exp: 1.5 }));
    expectSameAsSchema(accessClaims({ approval: { id: "a", approved_by: [], approved_at: 1 } }));
    for (const depth of [1, 7, 8, 9, 12]) expectSameAsSchema(accessClaims({ act: act(depth) }));
    for (const value of [null, [], "claims", 1]) expectSameAsSchema(value);
  });
});
