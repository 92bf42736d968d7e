/**
 * Local development only: approves an approval request from the broker's dev outbox (DEV_OUTBOX), as the approver's
 * browser would: open the mailed link, post the page's Approve form. In production the approver does this by hand.
 */

type SentMail = { to: string; link: string; approvalId: string };

export async function approveFromDevOutbox(broker: string, approvalId: string, approver: string): Promise<void> {
  const listed = await fetch(`${broker}/dev/outbox.json?approval_id=${encodeURIComponent(approvalId)}`);
  if (!listed.ok) throw new Error(`the broker has no dev outbox (${listed.status}): is DEV_OUTBOX on?`);
  const { mails } = (await listed.json()) as { mails: SentMail[] };
  const mail = mails.find((m) => m.to === approver);
  if (mail === undefined) throw new Error(`no approval mail to ${approver} for ${approvalId}`);
  // Mail links use the broker's approval origin; the broker may listen elsewhere (tests pick a free port).
  const link = new URL(mail.link);
  const page = await fetch(`${broker}${link.pathname}${link.search}`);
  if (!page.ok) throw new Error(`the approval page answered ${page.status}`);
  const decided = await fetch(`${broker}/approvals/${encodeURIComponent(approvalId)}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(formFields(await page.text(), "approve-form")),
  });
  if (!decided.ok) throw new Error(`approving answered ${decided.status}`);
}

/** The hidden inputs of one form of the broker's approval page. */
function formFields(html: string, formId: string): Record<string, string> {
  const form = new RegExp(`<form[^>]*id="${formId}"[^>]*>([\\s\\S]*?)</form>`).exec(html)?.[1] ?? "";
  const fields: Record<string, string> = {};
  for (const [input] of form.matchAll(/<input\b[^>]*>/g)) {
    const name = /\bname="([^"]*)"/.exec(input)?.[1];
    const value = /\bvalue="([^"]*)"/.exec(input)?.[1] ?? "";
    if (name !== undefined) fields[name] = value.replace(/&amp;/g, "&");
  }
  if (fields.nonce === undefined) throw new Error(`the approval page has no ${formId}`);
  return fields;
}
