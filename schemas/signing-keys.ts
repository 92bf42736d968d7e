import * as z from "zod";

export const SIGNING_ALGORITHMS = ["ES256", "EdDSA"] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/**
 * A private signing key as kept in the SIGNING_KEYS secret.
 * `status` drives rotation: `next` is published but does not sign yet, `current` signs,
 * `previous` is still published until every token it signed has expired.
 */
export const SigningKeySchema = z.looseObject({
  kid: z.string().min(1).max(128),
  alg: z.enum(SIGNING_ALGORITHMS),
  status: z.enum(["next", "current", "previous"]),
  kty: z.enum(["EC", "OKP"]),
  crv: z.enum(["P-256", "Ed25519"]),
  x: z.string().min(1),
  y: z.string().optional(),
  d: z.string().min(1),
});

export const SigningKeySetSchema = z.object({ keys: z.array(SigningKeySchema).min(1).max(8) }).superRefine((set, ctx) => {
  if (set.keys.filter((k) => k.status === "current").length !== 1)
    ctx.addIssue({ code: "custom", path: ["keys"], message: 'exactly one key must have status "current"' });
  if (new Set(set.keys.map((k) => k.kid)).size !== set.keys.length)
    ctx.addIssue({ code: "custom", path: ["keys"], message: "kids must be unique" });
  set.keys.forEach((key, i) => {
    if ((key.alg === "ES256") !== (key.kty === "EC" && key.crv === "P-256"))
      ctx.addIssue({ code: "custom", path: ["keys", i, "alg"], message: "alg does not fit the key type" });
  });
});

export type SigningKey = z.infer<typeof SigningKeySchema>;
export type SigningKeySet = z.infer<typeof SigningKeySetSchema>;
