import type { Request, Response } from 'express';
import type { Actor } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import { isFullAdmin } from '../accounts/scope.ts';

export type Flash = { kind: 'success' | 'error'; text: string };
export type ConsoleUser = Extract<Actor, { kind: 'user' }>;
export type Section = 'users' | 'units' | 'domains' | 'directories' | 'federation' | 'apps' | 'audit' | 'second-factor';

declare module 'express-session' {
  interface SessionData {
    /** A one-time notice for the page after a POST-redirect-GET. */
    flash?: Flash;
    /** Kept for RP-initiated logout (id_token_hint). */
    idToken?: string;
  }
}

export function consoleUserOf(req: Request): ConsoleUser | undefined {
  const user = req.user as Actor | undefined;
  return user?.kind === 'user' ? user : undefined;
}

export function setFlash(req: Request, text: string, kind: Flash['kind'] = 'success'): void {
  req.session.flash = { kind, text };
}

/** Each section of the console, as a link back to it names it; `campus`: for campus administrators only. */
const SECTIONS: Record<Section, { words: string; campus: boolean }> = {
  users: { words: 'users', campus: false },
  units: { words: 'units', campus: false },
  apps: { words: 'apps', campus: false },
  domains: { words: 'domains', campus: true },
  directories: { words: 'directories', campus: true },
  federation: { words: 'federation', campus: true },
  audit: { words: 'the audit log', campus: true },
  'second-factor': { words: 'second factor', campus: true },
};

/**
 * Where an error page sends the administrator back to: the section of the page that failed (Apps for an
 * app's page), or Users, where everyone starts, when that section is not theirs to open.
 */
export function sectionBack(req: Request): { href: string; words: string } {
  const word = /^\/admin\/([a-z-]+)/.exec(req.originalUrl)?.[1];
  const user = consoleUserOf(req);
  const known = word !== undefined && Object.hasOwn(SECTIONS, word) ? (word as Section) : 'users';
  const section = SECTIONS[known].campus && !(user && isFullAdmin(user)) ? 'users' : known;
  return { href: `/admin/${section}`, words: SECTIONS[section].words };
}

/** Only a console path may be resumed after sign-in, never another site or the provider's routes. */
export function safeReturnTo(value: unknown): string {
  if (typeof value === 'string' && /^\/admin\/[A-Za-z0-9/_.%?&=+-]*$/.test(value) && !value.includes('//'))
    return value;
  return '/admin/users';
}

/** Renders a console page in the admin layout with the navigation, the form token and any pending notice. */
export function renderPage(
  csrf: Csrf,
  req: Request,
  res: Response,
  view: string,
  data: Record<string, unknown> & { title: string; section?: Section },
  status = 200,
): void {
  const user = consoleUserOf(req);
  const flash = req.session?.flash;
  if (flash) delete req.session.flash;
  res.status(status).render(`admin/${view}`, {
    ...data,
    layout: 'admin',
    csrf: csrf.token(req, res),
    flash,
    nav: user ? { username: user.name, fullAdmin: isFullAdmin(user), section: data.section } : undefined,
  });
}
