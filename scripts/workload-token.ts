// Usage: npm run workload-token -- <github|kubernetes|spiffe> <subject> [--exchange <use-case>]
// Prints a token from the dev workload issuer, shaped like a GitHub Actions, Kubernetes or SPIFFE token (local
// development only: its private key is public, core/identity/fixtures/dev-workload-issuer-key.json). With --exchange it also trades
// the token at the local broker (RFC 8693 token exchange) for a Writ token, as the workload would.
//   npm run workload-token -- github acme/support-bot
//   npm run workload-token -- kubernetes billing/billing-agent --exchange crm.customers.read
//   npm run workload-token -- spiffe ns/support/sa/support-bot --exchange crm.customers.read
import { decodeJwt } from "jose";
import { DEV_WORKLOAD_KINDS, isDevWorkloadKind, mintDevWorkloadToken } from "../core/identity/federation-dev-issuer.ts";
import { DEV_VARS } from "./dev-vars.ts";

const USAGE = `usage: npm run workload-token -- <${DEV_WORKLOAD_KINDS.join("|")}> <subject> [--exchange <use-case>]
  github: owner/repo   kubernetes: namespace/service-account   spiffe: a SPIFFE ID or a path under spiffe://dev.writ.invalid
The demo policy maps acme/support-bot (github), billing/billing-agent (kubernetes) and ns/support/sa/support-bot (spiffe).`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
const [kind, subject, flag, useCase, extra] = args;
if (
  kind === undefined ||
  subject === undefined ||
  !isDevWorkloadKind(kind) ||
  (flag !== undefined && (flag !== "--exchange" || !useCase)) ||
  extra
) {
  console.error(USAGE);
  process.exit(2);
}

let token: string;
try {
  token = await mintDevWorkloadToken(kind, subject, new Date());
} catch (error) {
  if (!(error instanceof TypeError)) throw error;
  console.error(`workload-token: ${error.message}`);
  process.exit(2);
}

if (flag === undefined) {
  // The token alone on stdout, so that `$(npm run -s workload-token -- …)` captures it; the claims go to stderr.
  console.log(token);
  console.error("claims:", JSON.stringify(decodeJwt(token), null, 2));
} else {
  const issuer = process.env.WRIT_ISSUER ?? DEV_VARS.ISSUER;
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: token,
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      scope: useCase as string,
    }),
  }).catch((error: unknown) => {
    console.error(`workload-token: no broker at ${issuer} (start one with npm start): ${String(error)}`);
    process.exit(1);
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) {
    console.error(`refused (${response.status}): ${String(body.error)}: ${String(body.error_description)}`);
    process.exit(1);
  }
  console.log(JSON.stringify(body, null, 2));
  console.log("claims:", JSON.stringify(decodeJwt(String(body.access_token)), null, 2));
}
