import * as z from "zod";

/** RFC 9396 type under which an agent asks for one use case and may narrow it. */
export const AGENT_USE_CASE_TYPE = "agent_use_case";

const uniqueStrings = (max: number) =>
  z
    .array(z.string().min(1).max(max))
    .max(64)
    .refine((values) => new Set(values).size === values.length, { message: "values must be unique" });

/** What an agent may ask for. Unknown members are refused rather than ignored: silently dropping a constraint would widen the grant. */
export const RequestedUseCaseSchema = z
  .object({
    type: z.literal(AGENT_USE_CASE_TYPE),
    use_case: z.string().min(1).max(128),
    actions: uniqueStrings(64).optional(),
    locations: uniqueStrings(512).optional(),
  })
  .strict();

export const RequestedAuthorizationDetailsSchema = z.array(RequestedUseCaseSchema).min(1).max(8);

/** What a token grants: the narrowed actions and locations plus the use case's limits, which the service enforces. */
export const GrantedUseCaseSchema = z.object({
  type: z.literal(AGENT_USE_CASE_TYPE),
  use_case: z.string().min(1),
  actions: z.array(z.string()),
  locations: z.array(z.string()),
  limits: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
});

export type RequestedUseCase = z.infer<typeof RequestedUseCaseSchema>;
export type GrantedUseCase = z.infer<typeof GrantedUseCaseSchema>;
