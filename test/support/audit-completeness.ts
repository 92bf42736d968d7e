import { decodeJwt } from "jose";
import { expect, it } from "vitest";
import { utcDay } from "../../lib/time.ts";
import type { AuditRecord } from "../../schemas/audit.ts";
import { type AgentId, assertionFor } from "./assertions.ts";
import { auditAll, expectNoSecrets, expectWellFormed, type Probe } from "./audit.ts";
import { clientAuthParams, tokenExchangeParams } from "./oauth.ts";

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

  async exchangeForm(agent: AgentId, params: Record<string, string>): Promise<Record<string, string>> {
    return tokenExchangeParams(this.keep(await assertionFor(agent)), params);
  }

  async clientAuth(agent: AgentId): Promise<Record<string, string>> {
    return clientAuthParams(this.keep(await assertionFor(agent)), agent);
  }

  /** The access token of a 200 token response, and its jti. */
  async accessToken(res: Response): Promise<{ token: string; jti: string }> {
    expect(res.status).toBe(200);
    const { access_token } = await res.json<{ access_token: string }>();
    return { token: this.keep(access_token), jti: String(decodeJwt(access_token).jti) };
  }
}

export const today = (): string => utcDay(Date.now());

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
