import * as z from "zod";

/** An agent, use case or actor id in the policy, as every part of the policy (and a trusted issuer's mapping) spells it. */
export const policyId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:-]{0,127}$/, "lower-case letters, digits and . _ : - (at most 128, starting with a letter or digit)");

/**
 * A policy record (limits, context rules, groups, budget units, pinned claims) keyed by names of 1–64 characters.
 * `__proto__` is refused loudly: zod's record would drop it silently, and the policy would mean less than it says.
 */
export function policyRecord<V extends z.ZodType>(value: V) {
  return z
    .unknown()
    .superRefine((input, ctx) => {
      if (input !== null && typeof input === "object" && Object.hasOwn(input, "__proto__"))
        ctx.addIssue({ code: "custom", message: "__proto__ is a reserved name" });
    })
    .pipe(z.record(z.string().min(1).max(64), value));
}
