import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { type Config, readConfig } from "../config.ts";

// The request log (worker/middleware/request-log.ts) sets the request's clock and configuration before any route
// runs. Route groups are also mounted on their own (tests drive sub-apps without it): they then read their own.

/** The configuration, read once per environment. */
export function configOf(c: Context<AppEnv>): Config {
  return (c.get("config") as Config | undefined) ?? readConfig(c.env);
}

/** The request's one clock: every check of one request sees the same instant. */
export function nowOf(c: Context<AppEnv>): Date {
  let now = c.get("now") as Date | undefined;
  if (!now) {
    now = new Date();
    c.set("now", now);
  }
  return now;
}
