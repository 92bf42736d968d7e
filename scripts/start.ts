// npm start: the broker on http://127.0.0.1:8787 with the demo policy, a generated dev key and local Durable Objects.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { DEV_PORT, DEV_VARS } from "./dev-vars.ts";
import { PROJECT_ROOT } from "./policy-path.ts";

const vars = Object.entries(DEV_VARS).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
const wrangler = resolve(PROJECT_ROOT, "node_modules/.bin/wrangler");
const child = spawn(wrangler, ["dev", "--ip", "127.0.0.1", "--port", String(DEV_PORT), ...vars, ...process.argv.slice(2)], {
  cwd: PROJECT_ROOT,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});

console.log(`
  Writ broker starting on ${DEV_VARS.ISSUER} (demo policy: policy/demo.policy.json)

  Get a first token, in another terminal:
    npm run agent -- support-bot crm.customers.read "look up a customer"
  Ask for something that needs a human, then approve it from the captured mail:
    npm run approval -- billing-agent billing.invoices.refund "refund invoice INV-42"
    open ${DEV_VARS.APPROVAL_ORIGIN}/dev/outbox
  Admin (token "${DEV_VARS.ADMIN_TOKEN}"): ${DEV_VARS.APPROVAL_ORIGIN}/admin, /admin/agents/support-bot, /admin/audit
  Discovery and keys:
    curl ${DEV_VARS.ISSUER}/.well-known/oauth-authorization-server
`);

for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
