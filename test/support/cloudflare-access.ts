/** A Cloudflare Access team of a test's own: its signing key, its key set as Access publishes it, and the assertions it signs. */
import { createLocalJWKSet, exportJWK, generateKeyPair, type JSONWebKeySet, type JWTVerifyGetKey, SignJWT } from "jose";

export type AccessTeam = {
  /** `https://<team>.cloudflareaccess.com`: the assertions' issuer. */
  domain: string;
  /** What `<domain>/cdn-cgi/access/certs` serves. */
  certs: JSONWebKeySet;
  /** The same keys for code that takes a key source (`accessKeys` options). */
  jwks: JWTVerifyGetKey;
  /** The `Cf-Access-Jwt-Assertion` Access adds for a signed-in user of the application `audience`, valid for five minutes. */
  assertion(claims: Record<string, unknown>, audience: string): Promise<string>;
};

export async function accessTeam(domain: string): Promise<AccessTeam> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const certs = { keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" }] };
  return {
    domain,
    certs,
    jwks: createLocalJWKSet(certs),
    assertion: (claims, audience) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(domain)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(privateKey),
  };
}
