import { randomBytes, randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';

export type TokenClaims = { issuer: string; audience: string; clientId: string; domain: string };

/** u00001 … u15000: the bench's people. */
export const usernameOf = (index: number) => `u${String(index).padStart(5, '0')}`;

/**
 * Access tokens as the gateway's provider issues them for a domain node (resource indicator = the node):
 * the same header (RS256, typ at+jwt, the active key's kid), the same registered claims and the campus
 * claims of extraTokenClaims, signed with the gateway's own active signing key. Signing in thousands of
 * people through the login form would take far longer than the benchmark itself.
 */
export async function mintAccessTokens(jwk: JWK, claims: TokenClaims, indexes: number[]): Promise<Map<number, string>> {
  if (!jwk.kid) throw new Error('the signing key has no kid');
  const key = await importJWK(jwk, 'RS256');
  const tokens = new Map<number, string>();
  const chunk = 256;
  for (let i = 0; i < indexes.length; i += chunk) {
    const signed = await Promise.all(
      indexes.slice(i, i + chunk).map(async (index) => {
        const username = usernameOf(index);
        const token = await new SignJWT({
          client_id: claims.clientId,
          scope: 'openid im',
          preferred_username: username,
          name: `Bench User ${index}`,
          roles: ['student'],
          im_home_domain: claims.domain,
          im_domains: [claims.domain],
          sid: randomBytes(16).toString('base64url'),
        })
          .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid })
          .setIssuer(claims.issuer)
          .setAudience(claims.audience)
          .setSubject(randomUUID())
          .setJti(randomBytes(21).toString('base64url'))
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key);
        return [index, token] as const;
      }),
    );
    for (const [index, token] of signed) tokens.set(index, token);
  }
  return tokens;
}
