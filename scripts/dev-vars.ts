/** Local-dev settings shared by `npm start` and the tests: the issuer agents sign for, and a generated signing key. */
export const DEV_PORT = 8787;

/**
 * The local-dev vars for a broker on `port`. The issuer and the approval pages share one origin on `localhost`:
 * WebAuthn refuses IP addresses as relying-party ids, the contract puts approval links under the issuer, and one
 * origin in the banner leaves no second spelling for an agent to sign its assertions for.
 */
export function devVars(port: number) {
  const origin = `http://localhost:${port}`;
  return {
    ISSUER: origin,
    APPROVAL_ORIGIN: origin,
    DEV_SIGNING_KEY_ALLOWED: "true",
    DEV_OUTBOX: "true",
    ADMIN_TOKEN: "dev-admin-token",
    SERVICE_CREDENTIALS: JSON.stringify({
      "https://crm.example.com": "dev-crm-service-secret",
      "http://localhost:8788/mcp": "dev-mcp-service-secret",
    }),
  } as const;
}

export const DEV_VARS = devVars(DEV_PORT);
