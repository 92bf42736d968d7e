import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { log } from "../log.ts";

/** Gives each request an id (Cloudflare's Ray ID where present) and writes exactly one log line for it. */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLogHandler(c, next) {
    const started = performance.now();
    const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("outcome", {});
    try {
      await next();
    } finally {
      log(c.res.status >= 500 ? "error" : "info", "request", {
        request_id: requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ...c.get("outcome"),
        // Workers freeze timers during pure CPU work, so this is wall time around I/O: good enough to spot slow storage.
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
      });
    }
  };
}
