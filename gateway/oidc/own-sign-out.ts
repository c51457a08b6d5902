import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { decodeJwt } from 'jose';

/** Long enough for the browser to follow the redirect on a slow lab machine, short enough to be of no later use. */
const LIFETIME_MS = 5 * 60_000;

const macOf = (secretKey: string, clientId: string, sid: string, expires: string) =>
  createHmac('sha256', secretKey).update(`own-sign-out:${clientId}:${sid}:${expires}`).digest('base64url');

/**
 * The `state` the gateway's own relying parties (the portal, the admin console) send with their
 * RP-initiated logout, so the gateway can tell their POST-initiated sign-out (CSRF-checked) from an
 * end_session link anyone could have sent the browser to, and sign the person out without asking. It
 * names the client's sid of the gateway session, so it is worth nothing once that session ended, and
 * only the gateway's secret makes one.
 */
export function ownSignOutState(secretKey: string, clientId: string, sid: string, now = Date.now()): string {
  const expires = (now + LIFETIME_MS).toString(36);
  return `${expires}.${macOf(secretKey, clientId, sid, expires)}`;
}

/**
 * What binds an own sign-out's state to one gateway session: the client's sid of it, which the ID token
 * carries for a client that asks for it (the portal); else the ID token itself, which only that sign-in got
 * (the console's), together with the session's person (checked by the provider).
 */
export function sessionBinding(idToken: string): string {
  const { sid } = decodeJwt(idToken);
  if (typeof sid === 'string') return sid;
  return `token:${createHash('sha256').update(idToken).digest('base64url')}`;
}

/** An end_session URL with the state of an own sign-out, for the session the ID token names. */
export function withOwnSignOutState(url: string, idToken: string | undefined, clientId: string, secretKey: string) {
  if (!idToken) return url;
  const sid = sessionBinding(idToken);
  const target = new URL(url);
  target.searchParams.set('state', ownSignOutState(secretKey, clientId, sid));
  return target.href;
}

/** Whether `state` is one the client made for this gateway session, and not yet expired. */
export function isOwnSignOutState(
  secretKey: string,
  clientId: string,
  sid: string,
  state: unknown,
  now = Date.now(),
): boolean {
  if (typeof state !== 'string') return false;
  const [expires, mac, ...rest] = state.split('.');
  if (!expires || !mac || rest.length > 0 || !(Number.parseInt(expires, 36) > now)) return false;
  const expected = Buffer.from(macOf(secretKey, clientId, sid, expires));
  const given = Buffer.from(mac);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
