// Kept for test/approvals/page.test.ts and test/admin/*, which another change is editing: they should import
// from ../support/approver-app.ts, ../support/approval-fixture.ts and ../support/html.ts.

export { type OpenedApproval as Opened, openApproval, pagePath, stored } from "../support/approval-fixture.ts";
export { approverApp, call, postForm } from "../support/approver-app.ts";
export { attributesOf, decodeEntities, formOf, SECURITY_HEADERS, textOf } from "../support/html.ts";
