import { decodeJwt } from "jose";
import { expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.ts";
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE, TOKEN_TYPE } from "../../schemas/token-request.ts";
import { assertionFor, type DemoAgent } from "../support/broker.ts";
import { auditAll, dayOf, expectNoSecrets, expectWellFormed, type Probe } from "./audit-support.ts";

/**
 * Shared by the completeness tests (issue #5: N requests of every kind produce exactly N matching audit records).
 * Every credential a test sends or receives goes through `keep`, so that the file's last test can check that no
 * record of the day holds any of them.
 */
export class Secrets {
  readonly all = new Set<string>(["dev-admin-token", "dev-crm-service-secret"]);

  keep(secret: string): string {
    this.all.add(secret);
    return secret;
  }

  async exchangeForm(agent: DemoAgent, params: Record<string, string>): Promise<Record<string, string>> {
    return {
      grant_type: GRANT_TYPE.tokenExchange,
      subject_token: this.keep(await assertionFor(agent)),
      subject_token_type: TOKEN_TYPE.jwt,
      ...params,
    };
  }

  async clientAuth(agent: DemoAgent): Promise<Record<string, string>> {
    return {
      client_id: agent,
      client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
      client_assertion: this.keep(await assertionFor(agent)),
    };
  }

  /** The access token of a 200 token response, and its jti. */
  async accessToken(res: Response): Promise<{ token: string; jti: string }> {
    expect(res.status).toBe(200);
    const { access_token } = await res.json<{ access_token: string }>();
    return { token: this.keep(access_token), jti: String(decodeJwt(access_token).jti) };
  }
}

export const today = (): string => dayOf(Date.now());

/** The one record of request `i` of the probe (of `type`, where a request writes several). */
export function recordOf(records: AuditRecord[], p: Probe, i: number, type?: AuditRecord["type"]): AuditRecord {
  const matches = records.filter((r) => r.request_id === p.requestIds[i] && (type === undefined || r.type === type));
  expect(matches, `records of request ${i}`).toHaveLength(1);
  return matches[0] as AuditRecord;
}

export function countBy(records: AuditRecord[], key: (r: AuditRecord) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of records) counts[key(r)] = (counts[key(r)] ?? 0) + 1;
  return counts;
}

/** The file's last test: no record of the day, in any shard, holds a secret the file handled. */
export function itHoldsNoSecrets(secrets: Secrets, atLeast: { records: number; secrets: number }): void {
  it("no record of the day holds a token, an assertion, a link token, a nonce or a credential", async () => {
    const records = await auditAll();
    expect(records.length).toBeGreaterThanOrEqual(atLeast.records);
    expect(secrets.all.size).toBeGreaterThanOrEqual(atLeast.secrets);
    expectWellFormed(records);
    expectNoSecrets(records, secrets.all);
  });
}
