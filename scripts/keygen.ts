// npm run keygen [-- --alg EdDSA]          prints a new SIGNING_KEYS value (one current key)
// npm run keygen -- --rotate < keys.json   prints the next rotation step of an existing SIGNING_KEYS value
// Then: wrangler secret put SIGNING_KEYS < keys.json   (the private keys go nowhere else)
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { JWKS_MAX_AGE_SECONDS } from "../core/keys/jwks-max-age.ts";
import { rotateKeySet } from "../core/keys/rotate-key-set.ts";
import { generateSigningKey } from "../lib/generate-signing-key.ts";
import { SIGNING_ALGORITHMS, type SigningAlgorithm, SigningKeySetSchema } from "../schemas/signing-keys.ts";

const { values } = parseArgs({ options: { alg: { type: "string", default: "ES256" }, rotate: { type: "boolean", default: false } } });
const alg = values.alg as SigningAlgorithm;
if (!SIGNING_ALGORITHMS.includes(alg)) {
  console.error(`--alg must be one of ${SIGNING_ALGORITHMS.join(", ")}`);
  process.exit(2);
}

if (!values.rotate) {
  console.log(JSON.stringify({ keys: [await generateSigningKey(alg, "current")] }));
} else {
  const parsed = SigningKeySetSchema.safeParse(JSON.parse(readFileSync(0, "utf8")));
  if (!parsed.success) {
    console.error(`stdin is not a SIGNING_KEYS value: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    process.exit(1);
  }
  const { step, set } = await rotateKeySet(parsed.data, alg);
  console.log(JSON.stringify(set));
  console.error(
    step === "add-next"
      ? `added a "next" key. Deploy it, wait at least ${JWKS_MAX_AGE_SECONDS}s (the JWKS max-age), then run --rotate again to promote it.`
      : `promoted "next" to "current"; the old key stays published as "previous". Wait at least the longest token TTL before the next rotation.`,
  );
}
