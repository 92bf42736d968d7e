import { vi } from "vitest";

/** The request's one log line (worker/middleware/request-log.ts). */
export type RequestLogLine = {
  event: "request";
  status: number;
  decision?: string;
  reason?: string;
  failure?: string;
  detail?: string;
  grant_type?: string;
  agent?: string;
  [field: string]: unknown;
};

/**
 * Runs `work` with the console captured (lib/log.ts writes each level to its own method) and returns every line
 * written meanwhile; `work` may read the lines so far.
 */
export async function withLogs<T>(work: (lines: readonly string[]) => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const spies = (["log", "warn", "error"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation((line: unknown) => {
      lines.push(String(line));
    }),
  );
  try {
    return { result: await work(lines), lines };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

/** Runs `send` with the console captured and returns the request log lines it produced (other lines are dropped). */
export async function withRequestLog<T>(send: () => Promise<T>): Promise<{ result: T; lines: RequestLogLine[] }> {
  const { result, lines } = await withLogs(() => send());
  return { result, lines: lines.map(parseLine).filter((line): line is RequestLogLine => line?.event === "request") };
}

function parseLine(text: string): { event?: unknown } | undefined {
  try {
    return JSON.parse(text) as { event?: unknown };
  } catch {
    return undefined;
  }
}
