/**
 * The little of JSON-RPC 2.0 and MCP Streamable HTTP the middleware reads: which methods a POST carries, and the
 * messages of a response, JSON or an SSE stream, to filter `tools/list` and read a metered tool's result.
 */
import type { McpDenial, McpToolResult } from "./mcp-rules.ts";

/** An MCP request body is a few KB; a larger one is refused before parsing, as the SDK's own transport does (4 MB). */
export const MAX_MCP_BODY_BYTES = 4 * 1024 * 1024;

export type JsonRpcId = string | number;

/**
 * A POST's body as text, or `undefined` past `max` bytes. Counts the bytes as they arrive and stops reading there,
 * so a chunked body without `Content-Length` is never buffered beyond the cap.
 */
export async function readBodyText(request: Request, max: number = MAX_MCP_BODY_BYTES): Promise<string | undefined> {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Problems with a POST's requests that make a metered call impossible to count honestly: the middleware answers
 * these as JSON-RPC "Invalid Request" (HTTP 400), as the SDK's transport answers malformed bodies.
 */
export function batchProblem(calls: readonly McpCall[], metered: (call: McpCall) => boolean): string | undefined {
  const ids = calls.map((call) => call.id).filter((id) => id !== undefined);
  // A result is matched to its call by id: two requests with one id would let a cheap call's result stand for another's.
  if (new Set(ids).size !== ids.length) return "requests in one batch must have distinct ids";
  // The broker counts one metered call per token, so a POST may carry only one.
  const meteredCalls = calls.filter(metered);
  if (meteredCalls.length > 1) return "only one metered tool call per request: a token pays for one";
  if (meteredCalls.some((call) => call.id === undefined)) return "a metered tool call must have an id";
  return undefined;
}

export function invalidRequest(description: string): Response {
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: -32600, message: `Invalid Request: ${description}` } },
    { status: 400, headers: { "Cache-Control": "no-store" } },
  );
}

/** One request of a POST, as far as authorization cares. */
export type McpCall =
  | { method: "tools/call"; id: JsonRpcId | undefined; tool: string; arguments: Record<string, unknown> }
  | { method: string; id: JsonRpcId | undefined };

/** The requests of a POST body, or `undefined` when it is not JSON-RPC: the MCP server answers those itself. */
export function readCalls(body: string): McpCall[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  const calls: McpCall[] = [];
  for (const message of messages) {
    if (!isObject(message) || typeof message.method !== "string") continue; // responses and junk: nothing to authorize
    const id = typeof message.id === "string" || typeof message.id === "number" ? message.id : undefined;
    if (message.method !== "tools/call") {
      calls.push({ method: message.method, id });
      continue;
    }
    const params = isObject(message.params) ? message.params : {};
    // A call without a tool name is still a tools/call: authorized as the tool "" (declared by no one), so refused.
    const tool = typeof params.name === "string" ? params.name : "";
    calls.push({ method: "tools/call", id, tool, arguments: isObject(params.arguments) ? params.arguments : {} });
  }
  return calls;
}

export function isToolCall(call: McpCall): call is Extract<McpCall, { method: "tools/call" }> {
  return call.method === "tools/call" && "tool" in call;
}

/** Where a denial always travels in a tool result (MCP `_meta`, under Writ's own prefix). */
export const DENIAL_META_KEY = "writ/denial";

/**
 * A refused tool call as MCP delivers tool failures: a `CallToolResult` with `isError: true` (MCP "tool execution
 * errors", which models see and can correct, as for invalid input), the denial in `_meta["writ/denial"]`, as
 * `structuredContent` unless the tool has an output schema it would not match, and as JSON in the text content for
 * clients that only show text.
 */
export function deniedToolResult(id: JsonRpcId | undefined, denial: McpDenial, structured: boolean): Response {
  const text = `Refused by Writ: ${denial.error_description}.\n${JSON.stringify(denial)}`;
  const result = {
    content: [{ type: "text", text }],
    ...(structured ? { structuredContent: denial } : {}),
    isError: true,
    _meta: { [DENIAL_META_KEY]: denial },
  };
  return Response.json({ jsonrpc: "2.0", id: id ?? null, result }, { headers: { "Cache-Control": "no-store" } });
}

type JsonRpcMessage = Record<string, unknown>;

/**
 * Rewrites the JSON-RPC messages of a finished response (JSON, or an SSE stream the server closes after answering,
 * as in stateless Streamable HTTP). `edit` returns the message to send instead, or `undefined` to keep it. Other
 * content types pass unchanged.
 */
export async function editMessages(
  response: Response,
  edit: (message: JsonRpcMessage) => JsonRpcMessage | undefined | Promise<JsonRpcMessage | undefined>,
): Promise<Response> {
  const type = (response.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type === "application/json") {
    const text = await response.text();
    const parsed = parseJson(text);
    if (parsed === undefined) return rebuilt(response, text);
    const edited = Array.isArray(parsed) ? await Promise.all(parsed.map((m) => editOne(m, edit))) : await editOne(parsed, edit);
    return rebuilt(response, JSON.stringify(edited));
  }
  if (type === "text/event-stream") {
    const events = (await response.text()).split(/\r?\n\r?\n/);
    const out: string[] = [];
    for (const event of events) out.push(await editEvent(event, edit));
    return rebuilt(response, out.join("\n\n"));
  }
  return response;
}

/** The messages of a finished response, without changing it: `editMessages` with a reader. */
export async function readMessages(response: Response): Promise<{ response: Response; messages: JsonRpcMessage[] }> {
  const messages: JsonRpcMessage[] = [];
  const copy = await editMessages(response, (message) => {
    messages.push(message);
    return undefined;
  });
  return { response: copy, messages };
}

/** The `CallToolResult` answering request `id` among `messages`, if the server sent one. */
export function toolResultFor(messages: readonly JsonRpcMessage[], id: JsonRpcId | undefined): McpToolResult | undefined {
  const answer = messages.find((m) => m.id === id && "result" in m);
  return answer !== undefined && isObject(answer.result) ? (answer.result as McpToolResult) : undefined;
}

async function editEvent(event: string, edit: Parameters<typeof editMessages>[1]): Promise<string> {
  const lines = event.split(/\r?\n/);
  const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
  if (data.length === 0) return event;
  const parsed = parseJson(data.join("\n"));
  if (!isObject(parsed)) return event;
  const edited = await editOne(parsed, edit);
  if (edited === parsed) return event;
  return [...lines.filter((l) => !l.startsWith("data:")), `data: ${JSON.stringify(edited)}`].join("\n");
}

async function editOne(message: unknown, edit: Parameters<typeof editMessages>[1]): Promise<unknown> {
  if (!isObject(message)) return message;
  return (await edit(message)) ?? message;
}

function rebuilt(response: Response, body: string): Response {
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
