import { describe, expect, it } from "vitest";
import { assertionFor } from "../support/assertions.ts";
import { expectNoSecrets, probe } from "../support/audit.ts";
import { sentMails } from "../support/ciba.ts";
import { withLogs } from "../support/logs.ts";
import { clientAuthParams } from "../support/oauth.ts";

/** Issue #5: a structured JSON log line per event too (Workers Logs and Logpush pick them up), never with a secret. */

describe("audit log lines", () => {
  it("logs the request's decision and one line per approval email, as JSON, without link tokens or assertions", async () => {
    await withLogs(async (lines) => {
      const p = probe("log-lines");
      const assertion = await assertionFor("billing-agent");
      const res = await p.post("/bc-authorize", {
        ...clientAuthParams(assertion, "billing-agent"),
        scope: "billing.invoices.refund",
        intent: `refund invoice INV-${crypto.randomUUID().slice(0, 8)}`,
      });
      expect(res.status).toBe(200);
      const { auth_req_id } = await res.json<{ auth_req_id: string }>();
      const [approvalId = ""] = auth_req_id.split(".");
      const records = await p.records(4);
      const mails = await sentMails(approvalId);

      const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const request = logged.filter((l) => l.event === "request" && l.request_id === p.requestIds[0]);
      expect(request).toEqual([
        expect.objectContaining({
          level: "info",
          path: "/bc-authorize",
          status: 200,
          agent: "billing-agent",
          use_case: "billing.invoices.refund",
          approval_id: approvalId,
          decision: "approval_requested",
        }),
      ]);
      const emailLines = logged.filter((l) => l.event === "approval_email_sent" && l.approval_id === approvalId);
      expect(emailLines.map((l) => l.to).sort()).toEqual(
        records
          .filter((r) => r.type === "approval_email")
          .map((r) => r.approver)
          .sort(),
      );

      const secrets = [
        assertion,
        auth_req_id,
        auth_req_id.split(".")[1] ?? "",
        ...mails.map((m) => new URL(m.link).searchParams.get("t") ?? ""),
      ];
      for (const line of lines) for (const secret of secrets) expect(line.includes(secret), line).toBe(false);
      expectNoSecrets(records, secrets);
    });
  });
});
