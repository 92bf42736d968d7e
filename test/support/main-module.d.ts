// Types `exports` of cloudflare:workers (the broker's own entry point) for tests. Declared here, not in worker/env.ts,
// because there it made the worker's environment type depend on the whole worker: an import cycle through every file.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("../../worker/index.ts");
    durableNamespaces: "AgentLedger" | "DevSigningKey" | "ApprovalRequest" | "ApproverPasskeys" | "DevOutbox" | "AuditLog" | "NoiseCounter";
  }
}
