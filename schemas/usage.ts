import * as z from "zod";

/** POST /usage: what one token actually consumed, in the units of its `limits` (e.g. `{"max_rows": 37}`). */
export const UsageReportSchema = z
  .object({
    /** The access token reported on. Required: a report without it is refused as at /introspect ("parameter "token" is required"). */
    token: z.string().min(1).max(8192).optional(),
    units: z
      .record(z.string().min(1).max(64), z.number().int().min(0).max(1e12))
      .refine((units) => Object.keys(units).length >= 1 && Object.keys(units).length <= 32, { message: "must name 1 to 32 units" }),
  })
  .strict();

export type UsageReport = z.infer<typeof UsageReportSchema>;
