import { Hono } from "hono";
import { log } from "../lib/log.ts";
import type { AppEnv } from "./app-env.ts";
import { auditAs } from "./audit/note.ts";
import { allowOnly, refuse } from "./http/refuse.ts";
import { failureLimit } from "./middleware/failure-limit.ts";
import { requestLog } from "./middleware/request-log.ts";
import { adminAgentRoutes } from "./routes/admin-agents.ts";
import { adminAuditRoutes } from "./routes/admin-audit.ts";
import { adminViewRoutes } from "./routes/admin-view.ts";
import { approvalRoutes } from "./routes/approvals.ts";
import { backchannelRoute } from "./routes/bc-authorize.ts";
import { devOutboxRoutes } from "./routes/dev-outbox.ts";
import { devWorkloadIssuerRoutes } from "./routes/dev-workload-issuer.ts";
import { jwksRoute, metadataRoute } from "./routes/discovery.ts";
import { introspectRoute } from "./routes/introspect.ts";
import { keyReportRoute } from "./routes/key-report.ts";
import { pageAssetRoutes } from "./routes/page-assets.ts";
import { passkeyEnrolmentRoutes } from "./routes/passkey-enrolment.ts";
import { revokeRoute } from "./routes/revoke.ts";
import { tokenRoute } from "./routes/token.ts";
import { usageRoute } from "./routes/usage.ts";

export const app = new Hono<AppEnv>();

app.use(requestLog());
// A network that keeps failing to authenticate is refused (429) before any route does any work.
app.use(failureLimit());
// Which audit event each endpoint's requests are, declared where the routes are (POST /token says it per grant).
app.use("/bc-authorize", auditAs("ciba_request"));
app.use("/introspect", auditAs("introspection"));
app.use("/revoke", auditAs("revocation"));
app.use("/usage", auditAs("usage_report"));
app.use("/admin", auditAs("admin_action"));
app.use("/admin/*", auditAs("admin_action"));
app.on("GET", "/approvals/*", auditAs("approval_view"));
app.on("POST", "/approvals/*", auditAs("approval_decision"));
app.use("/enrol/*", auditAs("passkey_enrolment"));

app.get("/.well-known/oauth-authorization-server", metadataRoute);
app.get("/.well-known/jwks.json", jwksRoute);
app.post("/token", tokenRoute);
app.post("/bc-authorize", backchannelRoute);
app.post("/introspect", introspectRoute);
app.post("/revoke", revokeRoute);
app.post("/usage", usageRoute);
// Not named with auditAs: the route names its event only for a verified report (forged ones must leave no durable row).
app.post("/keys/report", keyReportRoute);
app.route("/", adminAgentRoutes());
app.route("/", adminAuditRoutes());
app.route("/", adminViewRoutes());
app.route("/dev", devOutboxRoutes());
app.route("/dev/workload-issuer", devWorkloadIssuerRoutes());
app.route("/approvals", approvalRoutes());
app.route("/", passkeyEnrolmentRoutes());
app.route("/", pageAssetRoutes());

// RFC 9110 §15.5.6: the endpoints exist, so another method gets 405 and the methods that work, not 404.
for (const path of ["/token", "/bc-authorize", "/introspect", "/revoke", "/usage", "/keys/report"]) app.all(path, allowOnly("POST"));
for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/jwks.json"]) app.all(path, allowOnly("GET", "HEAD"));

app.notFound((c) => refuse(c, { code: "not_found" }));

// Reached only by bugs and misconfiguration: the client gets no detail, the log gets all of it.
app.onError((error, c) => {
  log("error", "unhandled_error", { request_id: c.get("requestId"), error: error.name, message: error.message });
  return c.json({ error: "server_error", error_description: "internal error" }, 500, { "Cache-Control": "no-store" });
});
