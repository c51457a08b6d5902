import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import { resetPagesToShow } from '../directories/reset-page.ts';
import type { InteractionDeps } from './routes.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * A refused password, as the login page says it once, after the redirect that answers the post
 * (post/redirect/get): Back and Reload then ask for the page again and never send the password again.
 * Kept in the interaction (server-side, bound to the browser's interaction cookie) until shown.
 * `wrongPassword`: the password field is marked invalid, as it is when it was the wrong one.
 */
export type LoginRefusal = {
  status: number;
  retryAfter?: string;
  loginHint?: string;
  error: string;
  locked?: boolean;
  wrongPassword: boolean;
};

/** Longer than any name or address anyone signs in with; what is typed beyond it is not kept. */
const HINT_KEPT = 320;

/**
 * Answers a refused login post (its status and any Retry-After already set on `res`): the refusal kept for
 * the login page, and a redirect to it. A step the sign-in was at (a password sent again from a page the
 * browser kept) is dropped: after a refused password, the sign-in starts at the password.
 */
export async function refuseLogin(
  deps: Pick<InteractionDeps, 'provider'>,
  req: Request,
  res: Response,
  details: Details,
  view: { loginHint: unknown; error: string; locked?: boolean; wrongPassword: boolean },
): Promise<void> {
  const refusal: LoginRefusal = {
    status: res.statusCode,
    ...(res.get('Retry-After') ? { retryAfter: res.get('Retry-After') } : {}),
    ...(typeof view.loginHint === 'string' ? { loginHint: view.loginHint.slice(0, HINT_KEPT) } : {}),
    error: view.error,
    ...(view.locked ? { locked: true } : {}),
    wrongPassword: view.wrongPassword,
  };
  await deps.provider().interactionResult(req, res, { atriumLogin: refusal }, { mergeWithLastSubmission: false });
  res.removeHeader('Retry-After');
  res.redirect(303, `/interaction/${details.uid}`);
}

export function loginRefusalOf(details: Details): LoginRefusal | null {
  const refusal = (details.result as { atriumLogin?: LoginRefusal } | undefined)?.atriumLogin;
  return refusal && typeof refusal.error === 'string' ? refusal : null;
}

/** The login page with a refusal kept for it, which it then forgets: a reload shows the page as it is. */
export async function showLoginRefusal(
  deps: InteractionDeps,
  req: Request,
  res: Response,
  details: Details,
  refusal: LoginRefusal,
): Promise<void> {
  await deps.provider().interactionResult(req, res, {}, { mergeWithLastSubmission: false });
  const client = await deps.provider().Client.find(String(details.params.client_id));
  if (refusal.retryAfter) res.set('Retry-After', refusal.retryAfter);
  res.status(refusal.status).render('login', {
    title: 'Sign in',
    uid: details.uid,
    csrf: deps.csrf.token(req, res),
    clientName: client?.clientName ?? client?.clientId,
    passwordError: true,
    // A locked account's way out: a directory person's password is changed at the directory's page, not
    // here. Every directory's page is named to everyone, so the page tells nobody who is a directory person.
    directoryPages: refusal.locked ? await resetPagesToShow(deps.context(req).models) : [],
    loginHint: refusal.loginHint,
    error: refusal.error,
    locked: refusal.locked,
    wrongPassword: refusal.wrongPassword,
  });
}
