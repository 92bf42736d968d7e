/** A field value that is safe to log: never a whole token, key or link token, only ids and codes. */
export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Record<string, LogValue>;

/** One JSON object per line, so Workers Logs and Logpush can index every field. */
export function log(level: "info" | "warn" | "error", event: string, fields: LogFields): void {
  const line = JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
