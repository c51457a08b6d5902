import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { GatewayContext } from '../context.ts';
import { hostCookieName, hostCookiePath } from '../http/host-cookies.ts';

/**
 * After a new password, back to where the person was going: the sign-in whose "Forgot your password?" they
 * followed, while it lasts, or else the home page of its app, where signing in starts again. The reset link
 * names no sign-in, so it is kept in the browser that asked for the link, for as long as the link lasts: a
 * mail opened in another browser leads to Atrium. The cookie only chooses among live sign-ins and registered
 * apps' home pages, so a forged one can send nobody anywhere else.
 */
export type ReturnTo = { href: string; label: string };

const cookieName = (secure: boolean) => hostCookieName('atrium.reset-return', secure);
const cookiePath = (secure: boolean) => hostCookiePath('/password/reset', secure);
const kept = z.object({ uid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), clientId: z.string().min(1).max(255) });

/** Keeps the sign-in `uid` (and its app) in this browser while a reset link it asked for can be used. */
export async function keepSignIn(
  provider: Provider,
  res: Response,
  options: { uid: string; secure: boolean; ttlMinutes: number },
): Promise<void> {
  const interaction = await provider.Interaction.find(options.uid);
  const clientId = interaction?.params.client_id;
  if (typeof clientId !== 'string') return;
  const value = Buffer.from(JSON.stringify({ uid: options.uid, clientId })).toString('base64url');
  res.cookie(cookieName(options.secure), value, {
    httpOnly: true,
    sameSite: 'lax',
    secure: options.secure,
    path: cookiePath(options.secure),
    maxAge: options.ttlMinutes * 60_000,
  });
}

/** Where to go back to from this browser, if it asked for the link from a sign-in; and forgets it. */
export async function whereToAfterReset(
  ctx: GatewayContext,
  provider: Provider,
  req: Request,
  res: Response,
  secure: boolean,
): Promise<ReturnTo | null> {
  const raw = (req.cookies as Record<string, string> | undefined)?.[cookieName(secure)];
  if (!raw) return null;
  res.clearCookie(cookieName(secure), { path: cookiePath(secure), secure, httpOnly: true, sameSite: 'lax' });
  let parsed: z.infer<typeof kept>;
  try {
    parsed = kept.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
  } catch {
    return null;
  }
  const interaction = await provider.Interaction.find(parsed.uid);
  if (interaction && interaction.params.client_id === parsed.clientId) {
    const client = await provider.Client.find(parsed.clientId);
    const name = client?.clientName;
    return {
      href: `/interaction/${parsed.uid}`,
      label: name ? `Continue signing in to ${name}` : 'Continue signing in',
    };
  }
  // The sign-in is over (it lasts less than a reset link): its app's home page starts a new one.
  const app = await ctx.models.App.findOne({ where: { clientId: parsed.clientId, disabled: false } });
  return app?.homeUrl ? { href: app.homeUrl, label: `Go to ${app.name}` } : null;
}
