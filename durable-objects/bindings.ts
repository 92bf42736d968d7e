/**
 * The bindings of a Durable Object that reads none: everything it needs comes with each call. Declared rather than
 * left to the default (`Cloudflare.Env`, the whole broker's environment), so no object depends on the edge's types.
 */
export type NoBindings = Record<never, never>;
