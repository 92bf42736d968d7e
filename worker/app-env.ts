import type { WritEnv } from "./env.ts";
import type { LogFields } from "./log.ts";

/** Hono's typed environment for every route and middleware of the broker. */
export type AppEnv = {
  Bindings: WritEnv;
  Variables: {
    requestId: string;
    /** What the route decided, merged into the request's one log line. */
    outcome: LogFields;
  };
};
