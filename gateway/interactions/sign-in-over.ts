import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { CONSOLE_CLIENT_ID } from '../admin/console-client.ts';
import type { GatewayContext } from '../context.ts';
import { hostCookieName, hostCookiePath } from '../http/host-cookies.ts';
import { PORTAL_CLIENT_ID } from '../portal/portal-client.ts';
import { serviceName } from '../place.ts';

/**
 * A sign-in that is over (finished, cancelled, expired, or started in another browser) once its page is
 * asked for again: Back from the app, a reload, a form the browser kept. Its interaction is gone, and with
 * it which app it was for; so each step's page keeps that in the browser, and the page that says the
 * sign-in is over leads to that app, where signing in starts again. Only the app is kept, not the sign-in:
 * one sign-in may take two interactions (the login, then the consent), and Back leads to the first. The
 * cookie only chooses among registered apps' home pages and the gateway's own, so a forged one can send
 * nobody anywhere else.
 */
export type WayOn = { href: string; label: string };

const NAME = 'atrium.sign-in-app';
const PATH = '/interaction';
/** Longer than a sign-in lasts: Back is pressed after it, perhaps the next morning. */
const KEPT_MS = 24 * 3600_000;
const kept = z.string().min(1).max(255);

const secureOf = (provider: Provider) => provider.issuer.startsWith('https://');

/** Keeps in this browser which app its sign-in is for (the last one whose page it was shown). */
export function keepSignInApp(provider: Provider, req: Request, res: Response, clientId: string): void {
  const secure = secureOf(provider);
  const value = Buffer.from(clientId).toString('base64url');
  if ((req.cookies as Record<string, string> | undefined)?.[hostCookieName(NAME, secure)] === value) return;
  res.cookie(hostCookieName(NAME, secure), value, {
    httpOnly: true,
    sameSite: 'lax',
    secure,
    path: hostCookiePath(PATH, secure),
    maxAge: KEPT_MS,
  });
}

/** The app this browser was last signing in to, if a sign-in's page was shown here. */
function keptClientId(provider: Provider, req: Request): string | null {
  const raw = (req.cookies as Record<string, string> | undefined)?.[hostCookieName(NAME, secureOf(provider))];
  const parsed = kept.safeParse(raw ? Buffer.from(raw, 'base64url').toString('utf8') : undefined);
  return parsed.success ? parsed.data : null;
}

/**
 * Where the person goes on from a sign-in that is over: the app it was for (its home page; the portal, the
 * console), or else their account at the gateway.
 */
export async function wayOn(ctx: GatewayContext, provider: Provider, req: Request): Promise<WayOn> {
  const clientId = keptClientId(provider, req);
  if (clientId === PORTAL_CLIENT_ID) return { href: '/', label: `Go to ${serviceName(ctx.place)}` };
  if (clientId === CONSOLE_CLIENT_ID) return { href: '/admin', label: 'Go to the admin console' };
  if (clientId) {
    const app = await ctx.models.App.findOne({ where: { clientId, disabled: false } });
    if (app?.homeUrl) return { href: app.homeUrl, label: `Go to ${app.name}` };
  }
  return { href: '/account', label: 'Go to your account' };
}

/** The address of the page that says the sign-in `uid` is over (on-error.ts sends there). */
export const signInOverPath = (uid: string) => `/interaction/${encodeURIComponent(uid)}/over`;

export const SIGN_IN_OVER = {
  title: 'This sign-in is over',
  description:
    'This sign-in has already finished, or it expired (or it was started in another browser), so there is nothing more to do on this page.',
};
