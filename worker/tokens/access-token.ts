import { SignJWT } from "jose";
import { ACCESS_TOKEN_TYP, type AccessTokenClaims } from "../../schemas/access-token.ts";
import type { Signer } from "./signing-keys.ts";

export function signAccessToken(claims: AccessTokenClaims, signer: Signer): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: ACCESS_TOKEN_TYP }).sign(signer.key);
}
