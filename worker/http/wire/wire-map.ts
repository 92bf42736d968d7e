/** A refusal as it goes on the wire. `error` absent: no body at all (RFC 6750 §3.1, a request without credentials). */
export type WireError = {
  status: 400 | 401 | 403 | 404 | 405 | 409 | 410 | 413 | 429 | 503;
  error?: string;
  error_description?: string;
  headers?: Record<string, string>;
};

/** One entry per reason code of a family: the compiler refuses a family whose map misses a code. */
export type WireMap<R extends { code: string }> = { [C in R["code"]]: (reason: Extract<R, { code: C }>) => WireError };

export const invalidRequest = (description: string): WireError => ({
  status: 400,
  error: "invalid_request",
  error_description: description,
});
export const invalidScope = (description: string): WireError => ({ status: 400, error: "invalid_scope", error_description: description });
export const accessDenied = (description: string): WireError => ({ status: 403, error: "access_denied", error_description: description });
