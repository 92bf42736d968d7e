/** Local-dev settings shared by `npm start` and the tests: the issuer agents sign for, and a generated signing key. */
export const DEV_PORT = 8787;
export const DEV_VARS = {
  ISSUER: `http://127.0.0.1:${DEV_PORT}`,
  // WebAuthn refuses IP addresses as relying-party ids, so approvers' passkeys work on localhost.
  APPROVAL_ORIGIN: `http://localhost:${DEV_PORT}`,
  DEV_SIGNING_KEY_ALLOWED: "true",
  DEV_OUTBOX: "true",
  ADMIN_TOKEN: "dev-admin-token",
  SERVICE_CREDENTIALS: JSON.stringify({ "https://crm.example.com": "dev-crm-service-secret" }),
} as const;
