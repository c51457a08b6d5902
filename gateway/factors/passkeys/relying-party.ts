/**
 * Who the gateway is to an authenticator: the relying party id is the issuer's host name and the only
 * origin accepted is the issuer's, so a passkey made here works nowhere else and vice versa.
 */
export type PasskeyDeps = { rpId: string; origin: string; rpName: string; challengeTtlSeconds: number };

// Long enough to find a security key and touch it, short enough that a leaked challenge is soon worthless.
const CHALLENGE_TTL_SECONDS = 300;

export function passkeyDeps(issuer: string, challengeTtlSeconds = CHALLENGE_TTL_SECONDS): PasskeyDeps {
  const url = new URL(issuer);
  return { rpId: url.hostname, origin: url.origin, rpName: `Atrium ${url.host}`, challengeTtlSeconds };
}

/** The WebAuthn user handle of a person: their stable `sub`, never their name or address. */
export const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(userId);
export const userIdOfHandle = (handle: string): string => Buffer.from(handle, 'base64url').toString('utf8');
