import { existsSync, readFileSync } from "node:fs";
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from "jose";
import type { AgentPrivateJwk, WritClient } from "../../client/index.ts";
import type { WritGrant, WritVerifyErrorCode } from "../../verifier/index.ts";
import { defaultKeyPath, demoAgentKeys, issuerOf } from "../broker/settings.ts";
import type { Args } from "../framework/args.ts";
import type { Command, Group } from "../framework/command.ts";
import { Failure, type Io, messageOf, UsageError } from "../framework/io.ts";
import { parseContext } from "./context-option.ts";

export const tokenGet: Command = {
  name: "get",
  summary: "get a token as an agent (its key file + issuer + use case), waiting for approval with --wait",
  usage:
    "writ token get <agent> <use-case> [--key file] [--issuer url] [--intent text] [--context key=value …] [--wait] [--raw]\n" +
    "       writ token get <agent> <use-case> [intent] [context-json]      (the npm run agent form)",
  help: `
Asks the broker for an access token the way an agent does (the agent SDK in client/: discovery, a private_key_jwt
assertion signed with the agent's key, token exchange). When the use case needs a human approval, --wait starts
one (approvers are emailed; locally, open <issuer>/dev/outbox) and waits for it; without --wait the command stops
and says so. Refusals are one line with the broker's request id, which the admin finds in the audit trail.

Options:
  --key file           the agent's private JWK (default: ~/.config/writ/agents/<agent>.jwk.json from writ agent add,
                       else the demo agent's published key from policy/demo-agent-keys.json, for the local demo)
  --issuer url         the broker, spelled exactly as its issuer (default $WRIT_ISSUER, else the local dev broker)
  --intent text        what the agent is about to do (recorded; shown to approvers)
  --context key=value  a fact the policy's conditions check (repeatable); --context-json '{…}' for typed values
  --resource url       the service the token is for (default: the use case's first audience)
  --action a, --location l   narrow the token (repeatable)
  --binding-message t  a short code shown to approvers (with --wait)
  --wait               start a human approval when the use case needs one, and wait for it
  --raw                print only the access token (for TOKEN=$(writ token get … --raw))

Example:
  writ token get support-bot crm.customers.read --intent "look up the customer on ticket SUP-42"`,
  options: {
    key: { type: "string" },
    issuer: { type: "string" },
    intent: { type: "string" },
    context: { type: "list" },
    "context-json": { type: "string" },
    resource: { type: "string" },
    action: { type: "list" },
    location: { type: "list" },
    "binding-message": { type: "string" },
    wait: { type: "boolean" },
    raw: { type: "boolean" },
  },
  async run(args: Args, io: Io) {
    const [agentId, useCase, intentArgument, contextArgument] = args.expect(["agent", "use-case", "intent", "context-json"], 2) as [
      string,
      string,
      string | undefined,
      string | undefined,
    ];
    const issuer = issuerOf(args, io);
    const key = agentKey(agentId, args.string("key"), io);
    const intent = args.string("intent") ?? intentArgument;
    const context = parseContext(args, contextArgument);
    // The SDK and the verifier load only for the commands that use them, so that every other command starts fast.
    const { WritApprovalRequired, WritClient, WritError } = await import("../../client/index.ts");
    let writ: WritClient;
    try {
      writ = new WritClient({ issuer, agentId, key });
    } catch (error) {
      throw new UsageError(messageOf(error).replace(/^WritClient: /, ""));
    }
    const wait = args.flag("wait");
    try {
      const token = await writ.token({
        useCase,
        intent,
        context,
        resource: args.string("resource"),
        ...(args.has("action") ? { actions: args.list("action") } : {}),
        ...(args.has("location") ? { locations: args.list("location") } : {}),
        ...(args.string("binding-message") === undefined ? {} : { bindingMessage: args.string("binding-message") }),
        approval: wait ? "wait" : "fail",
        onPending: ({ polls, expiresIn, expiresAt }) => {
          if (polls === 0)
            io.err(
              `approval requested for ${useCase} (expires in ${expiresIn} s): the approvers were emailed; with the local broker open ${issuer}/dev/outbox. Waiting…`,
            );
          else
            io.err(
              io.errColour.dim(`still waiting for the approvers (${Math.max(0, Math.round((expiresAt - Date.now()) / 1000))} s left)…`),
            );
        },
      });
      if (args.flag("raw")) {
        io.out(token.accessToken);
        return 0;
      }
      const claims = decodeJwt(token.accessToken);
      io.out(`${io.colour.ok("token issued")} for ${token.scope}, expires ${new Date(token.expiresAt).toISOString()}`);
      io.out(`access_token: ${token.accessToken}`);
      io.out(`header: ${JSON.stringify(decodeProtectedHeader(token.accessToken))}`);
      io.out(`claims: ${JSON.stringify(claims, null, 2)}`);
      return 0;
    } catch (error) {
      if (!(error instanceof WritError)) throw error;
      const lines =
        error instanceof WritApprovalRequired
          ? [
              `to ask the approvers: writ token get ${agentId} ${useCase} --wait${intent === undefined ? ' --intent "<why>"' : ""} (or npm run approval -- …)`,
            ]
          : [];
      throw new Failure(`refused: ${error.message}`, lines);
    }
  },
};

/** The agent's private key: --key, else the file `writ agent add` wrote, else the demo key (local demo only). */
function agentKey(agentId: string, path: string | undefined, io: Io): AgentPrivateJwk {
  const candidate = path ?? defaultKeyPath(agentId, io.env);
  if (path !== undefined || existsSync(candidate)) {
    let key: unknown;
    try {
      key = JSON.parse(readFileSync(candidate, "utf8"));
    } catch (error) {
      throw new Failure(`cannot read the agent key ${candidate}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}`);
    }
    if (typeof key !== "object" || key === null || typeof (key as { d?: unknown }).d !== "string")
      throw new Failure(`${candidate} is not a private JWK (writ agent add writes one)`);
    return key as AgentPrivateJwk;
  }
  const demo = demoAgentKeys()[agentId];
  if (demo === undefined)
    throw new UsageError(`no key for agent "${agentId}": pass --key <private JWK file> (writ agent add ${agentId} makes one)`);
  io.err(io.errColour.dim(`using demo agent ${agentId}'s published key (policy/demo-agent-keys.json): local demo only`));
  return demo as AgentPrivateJwk;
}

/** Which of the checks a refusal code says failed (codes added to the verifier later fall back to their own name). */
const FAILED_CHECK: Partial<Record<WritVerifyErrorCode, string>> = {
  ERR_WRIT_TOKEN_MISSING: "format",
  ERR_WRIT_AUTHORIZATION_MALFORMED: "format",
  ERR_WRIT_TOKEN_MALFORMED: "format",
  ERR_WRIT_ALG_NOT_ALLOWED: "signature",
  ERR_WRIT_SIGNATURE_INVALID: "signature",
  ERR_WRIT_KEY_UNKNOWN: "signature",
  ERR_WRIT_TYP_INVALID: "typ",
  ERR_WRIT_ISSUER_INVALID: "issuer",
  ERR_WRIT_AUDIENCE_INVALID: "audience",
  ERR_WRIT_EXPIRED: "lifetime",
  ERR_WRIT_NOT_YET_VALID: "lifetime",
  ERR_WRIT_CLAIMS_INVALID: "claims",
  ERR_WRIT_SCOPE_INSUFFICIENT: "scope",
  ERR_WRIT_JWKS_UNAVAILABLE: "keys",
  ERR_WRIT_TOKEN_INACTIVE: "introspection",
  ERR_WRIT_INTROSPECTION_UNAVAILABLE: "introspection",
};

/** For an issuer or audience refusal, what the token says against what was expected: the usual typo is visible at once. */
function mismatch(code: WritVerifyErrorCode, claims: JWTPayload, issuer: string, audience: string): string {
  if (code === "ERR_WRIT_ISSUER_INVALID") return ` (token says ${JSON.stringify(claims.iss)}, expected ${JSON.stringify(issuer)})`;
  if (code === "ERR_WRIT_AUDIENCE_INVALID") return ` (token says ${JSON.stringify(claims.aud)}, expected ${JSON.stringify(audience)})`;
  return "";
}

function failedCheck(code: WritVerifyErrorCode): string {
  return FAILED_CHECK[code] ?? (code.includes("DPOP") ? "DPoP binding" : code);
}

export const tokenVerify: Command = {
  name: "verify",
  summary: "verify an access token against the broker's JWKS, as a service would, and print its claims",
  usage: "writ token verify <jwt | -> [--issuer url] [--audience url] [--scope use-case]",
  help: `
Verifies a Writ access token with the verifier library services use (verifier/): the signature against the
broker's published keys (<issuer>/.well-known/jwks.json), the token type (at+jwt), issuer, audience, expiry and
issue time, Writ's claim shape, and --scope when given. Prints each check and the claims; a refused token gets one
line naming the check that failed. "-" reads the token from stdin.

Options:
  --issuer url         the broker (default $WRIT_ISSUER, else the local dev broker)
  --audience url       the service that must be the token's audience (default: the token's own aud, which then
                       proves nothing about the audience: say so explicitly when it matters)
  --scope use-case     the use case a route would require

Exit codes: 0 valid, 1 refused, 2 wrong command line.

Example:
  writ token get support-bot crm.customers.read --raw | writ token verify - --audience https://crm.example.com`,
  options: { issuer: { type: "string" }, audience: { type: "string" }, scope: { type: "string" } },
  async run(args: Args, io: Io) {
    const [given] = args.expect(["jwt"]) as [string];
    const jwt = (given === "-" ? await io.stdin() : given).trim();
    const issuer = issuerOf(args, io);
    let claims: JWTPayload;
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jwt);
      claims = decodeJwt(jwt);
    } catch {
      throw new Failure("refused: not a JWT (three base64url parts, a JSON header and claims)");
    }
    const audience = args.string("audience") ?? (typeof claims.aud === "string" ? claims.aud : undefined);
    if (audience === undefined) throw new UsageError("the token names no single audience: pass --audience");
    const scope = args.string("scope");
    const { createVerifier, WritVerifyError } = await import("../../verifier/index.ts");
    let verifier: ReturnType<typeof createVerifier>;
    try {
      verifier = createVerifier({ issuer, audience });
    } catch (error) {
      throw new UsageError(messageOf(error).replace(/^Writ verifier: /, ""));
    }
    let grant: WritGrant;
    try {
      grant = await verifier.verify(jwt, scope === undefined ? {} : { scope });
    } catch (error) {
      if (!(error instanceof WritVerifyError)) throw error;
      throw new Failure(`refused: ${error.code}: ${error.message}`, [
        `  ${io.errColour.bad("✗")} ${failedCheck(error.code)}${mismatch(error.code, claims, issuer, audience)}`,
      ]);
    }
    const tick = io.colour.ok("✓");
    const now = Date.now();
    io.out(`${io.colour.ok("valid")}: checked against ${issuer}/.well-known/jwks.json`);
    io.out(`  ${tick} signature: ${header.alg}, key "${header.kid}" published by the broker`);
    io.out(`  ${tick} typ: ${header.typ} (an RFC 9068 access token, not an assertion or ID token)`);
    io.out(`  ${tick} issuer: ${issuer}`);
    io.out(
      `  ${tick} audience: ${audience}${args.string("audience") === undefined ? " (taken from the token: pass --audience to require yours)" : ""}`,
    );
    io.out(
      `  ${tick} lifetime: issued ${grant.issuedAt.toISOString()}, expires ${grant.expiresAt.toISOString()} (in ${Math.round((grant.expiresAt.getTime() - now) / 1000)} s)`,
    );
    io.out(`  ${tick} claims: Writ's access token shape; scope matches authorization_details`);
    if (scope !== undefined) io.out(`  ${tick} scope: ${scope}`);
    io.out(
      `${grant.agent} may ${grant.actions.join(", ") || "(no actions)"} for ${grant.useCase} at ${grant.audience}` +
        `${Object.keys(grant.limits).length > 0 ? ` within ${JSON.stringify(grant.limits)}` : ""}` +
        `${grant.approval === undefined ? "" : " (approved by a human)"}`,
    );
    io.out(io.colour.dim("not checked: revocation and the kill switch (ask the broker's /introspect with a service credential)"));
    io.out(`claims: ${JSON.stringify(grant.claims, null, 2)}`);
    return 0;
  },
};

export const tokenGroup: Group = {
  name: "token",
  summary: "Tokens: get one as an agent, verify one as a service.",
  commands: [tokenGet, tokenVerify],
};
