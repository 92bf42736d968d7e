import type { z } from "zod";
import { fail, ok, type Result } from "../../core/refusals.ts";
import { readForm } from "./read-form.ts";

/**
 * Reads and validates an OAuth form body against a schema from `schemas/`. Failures become the contract's
 * errors, naming the parameter; the raw zod report never reaches the client.
 */
export async function parseFormRequest<S extends z.ZodType<object>>(raw: Request, schema: S): Promise<Result<z.infer<S>>> {
  const form = await readForm(raw);
  if (!form.ok) return form;
  for (const name of Object.keys(form.value.repeated))
    return fail({ code: "invalid_target", detail: `a token names exactly one service: "${name}" must not be repeated` });
  const parsed = schema.safeParse(form.value.single);
  if (parsed.success) return ok(parsed.data);
  const issue = parsed.error.issues[0];
  const parameter = String(issue?.path[0] ?? "request");
  if (issue?.code === "invalid_type" && !(parameter in form.value.single)) return fail({ code: "missing_parameter", parameter });
  const detail = issue?.message ?? "is invalid";
  // RFC 9396 §5 gives malformed authorization_details its own error code.
  if (parameter === "authorization_details")
    return fail({ code: "invalid_authorization_details", detail: describeDetailIssue(issue?.path.slice(1) ?? [], detail) });
  return fail({
    code: "invalid_parameter",
    parameter,
    detail: parameter === "context" ? `is invalid: ${issue?.path.slice(1).map(String).join(".") || "(root)"}: ${detail}` : "is invalid",
  });
}

/** e.g. `authorization_details[0].actions: …`, so the agent's developer finds the bad member at once. */
function describeDetailIssue(path: PropertyKey[], message: string): string {
  const where = path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
  return `authorization_details${where}: ${message}`;
}
