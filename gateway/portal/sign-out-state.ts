import { createHmac, timingSafeEqual } from 'node:crypto';

/** Long enough for the browser to follow the redirect on a slow lab machine, short enough to be of no later use. */
const LIFETIME_MS = 5 * 60_000;

const macOf = (secretKey: string, sid: string, expires: string) =>
  createHmac('sha256', secretKey).update(`portal-sign-out:${sid}:${expires}`).digest('base64url');

/**
 * The `state` the portal sends with its own RP-initiated logout, so the gateway can tell the portal's
 * POST-initiated sign-out (CSRF-checked) from an end_session link anyone could have sent the browser
 * to, and sign the person out without asking. It names the gateway session's sid for the portal, so
 * it is worth nothing once that session ended, and only the gateway's secret makes one.
 */
export function portalSignOutState(secretKey: string, sid: string, now = Date.now()): string {
  const expires = (now + LIFETIME_MS).toString(36);
  return `${expires}.${macOf(secretKey, sid, expires)}`;
}

/** Whether `state` is one the portal made for this gateway session, and not yet expired. */
export function isPortalSignOutState(secretKey: string, sid: string, state: unknown, now = Date.now()): boolean {
  if (typeof state !== 'string') return false;
  const [expires, mac, ...rest] = state.split('.');
  if (!expires || !mac || rest.length > 0 || !(Number.parseInt(expires, 36) > now)) return false;
  const expected = Buffer.from(macOf(secretKey, sid, expires));
  const given = Buffer.from(mac);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
