import { createHash } from 'node:crypto';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type Provider from 'oidc-provider';
import { RateLimitedError, ValidationError } from '../../core/errors.ts';
import { passwordSchema } from '../accounts/schemas.ts';
import type { GatewayContext } from '../context.ts';
import { type Csrf, csrfCookieName } from '../http/csrf.ts';
import { pageFormBody } from '../http/page-form-body.ts';
import { completePasswordReset, openResetLink, passwordTooLong } from './complete-reset.ts';
import { REFUSED_LINK_PAGES, type RefusedLinkReason, ResetLinkError } from './errors.ts';
import { firstPasswordDetail } from './notice-mails.ts';
import { admitResetRequest, mailResetLink, type RecoveryDeps } from './request-reset.ts';
import { hashResetToken, RESET_TOKEN_PATTERN, whatBecameOf } from './reset-tokens.ts';
import { keepSignIn, type ReturnTo, whereToAfterReset } from './return-to-sign-in.ts';

export type RecoveryRouteDeps = {
  context: (req: Request) => GatewayContext;
  csrf: Csrf;
  /** Null when mail cannot be sent (production without SMTP_URL): the pages say to ask an administrator. */
  recovery: RecoveryDeps | null;
  /** The campus directories' own reset pages, listed on the form for the people whose password lives there. */
  directoryPages?: () => Promise<{ name: string; url: string }[]>;
  /** The sign-ins a reset may lead back to (return-to-sign-in.ts); without it, the done page leads to Atrium. */
  provider?: () => Provider;
  /** Whether the gateway is served over https (its cookies are then host-only). */
  secure?: boolean;
};

// Room for the longest new password in a script of several bytes a character, typed twice (about 4 kB).
const FORM_LIMITS = { limit: '16kb', parameterLimit: 10 };

/**
 * The sign-in the person came from (the login page links here with its interaction's uid), so "Back to
 * sign in" returns to it; otherwise the portal, which starts one. Only a uid, never a URL, is taken.
 */
function signInToReturnTo(value: unknown): { interaction?: string; backTo: string } {
  if (typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value))
    return { interaction: value, backTo: `/interaction/${value}` };
  return { backTo: '/' };
}

// The token is in the reset page's URL: no Referer may carry it elsewhere, and no cache may keep the page.
const privatePage: RequestHandler = (_req, res, next) => {
  res.set({ 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
  next();
};

/** "Forgot password" for local accounts: ask for a link by mail, then choose a new password through it. */
export function recoveryRoutes(deps: RecoveryRouteDeps): Router {
  const router = Router();

  /** The "forgot password" page, whatever it says: the directories' own reset pages are always on it. */
  async function renderForgot(res: Response, view: Record<string, unknown>): Promise<void> {
    const directories = (await deps.directoryPages?.()) ?? [];
    res.render('password-forgot', { title: 'Forgot password', directories, ...view });
  }

  router.get('/password/forgot', async (req, res, next) => {
    try {
      await renderForgot(res, {
        csrf: deps.csrf.token(req, res),
        unavailable: !deps.recovery,
        ...signInToReturnTo(req.query.interaction),
      });
    } catch (error) {
      next(error);
    }
  });

  const forgotForm = pageFormBody(FORM_LIMITS, (req, res, next) => {
    res.status(413);
    renderForgot(res, {
      csrf: deps.csrf.token(req, res),
      error: 'Enter your username or email.',
      // The sign-in it came from was named in the body, unread: back to the portal, which starts one.
      ...signInToReturnTo(undefined),
    }).catch(next);
  });

  router.post('/password/forgot', forgotForm, deps.csrf.check, async (req, res, next) => {
    const recovery = deps.recovery;
    const body = req.body as Record<string, unknown>;
    const returnTo = signInToReturnTo(body.interaction);
    const identifier = body.identifier;
    try {
      if (!recovery) {
        res.status(404);
        return await renderForgot(res, { unavailable: true, ...returnTo });
      }
      const admitted = await admitResetRequest(deps.context(req), recovery, { identifier });
      if (returnTo.interaction && deps.provider)
        await keepSignIn(deps.provider(), res, {
          uid: returnTo.interaction,
          secure: deps.secure ?? false,
          ttlMinutes: recovery.ttlMinutes,
        });
      res.render('password-forgot-sent', { title: 'Check your mail', ttlMinutes: recovery.ttlMinutes, ...returnTo });
      // After the answer: whatever depends on the account (lookup, limits, link, mail) cannot be timed.
      mailResetLink(deps.context(req), recovery, admitted.identifier).catch((err: unknown) =>
        recovery.logger.error({ err }, 'a password reset request failed after its answer'),
      );
    } catch (error) {
      if (!(error instanceof ValidationError || error instanceof RateLimitedError)) return next(error);
      if (error instanceof RateLimitedError) res.set('Retry-After', String(error.retryAfterSeconds));
      // A person whose password is their directory's needs its reset page most when this one says no.
      res.status(error.status);
      await renderForgot(res, {
        csrf: deps.csrf.token(req, res),
        identifier: typeof identifier === 'string' ? identifier : '',
        error: error instanceof ValidationError ? 'Enter your username or email.' : error.message,
        ...returnTo,
      }).catch(next);
    }
  });

  router.use(resetLinkRoutes(deps));
  return router;
}

/** What the link's page shows after its post's redirect (post/redirect/get); never the password typed. */
type Kept =
  | { refused: { status: number; message: string; fields?: Record<string, string> } }
  | { linkRefused: RefusedLinkReason }
  | { done: { firstPassword: boolean; returnTo: ReturnTo | null } };

/** A page that is never opened after its redirect (a closed tab) does not keep its result past this. */
const KEPT_MS = 10 * 60_000;

/** The lengths a new password may have (passwordSchema's), said on the form and allowed in both its fields. */
const PASSWORD_LENGTH = { min: passwordSchema.minLength, max: passwordSchema.maxLength };

const linkPath = (token: string) => `/password/reset/${encodeURIComponent(token)}`;

/**
 * The link's pages: its form, and the page saying it is done. Each post is answered by a redirect to a page
 * (post/redirect/get), so Back and Reload ask for a page again and never send a password again. What the page
 * is to show is kept server-side, in a `web_sessions` row of this browser (its form-token cookie) and this
 * link, for a few minutes: a refusal is shown once, the done page as often as it is reloaded.
 */
function resetLinkRoutes(deps: RecoveryRouteDeps): Router {
  const router = Router();
  const secure = deps.secure ?? false;

  /** The row of what is kept for this browser and link; none without the browser's form-token cookie. */
  function keptRow(req: Request, token: string): string | null {
    const browser = (req.cookies as Record<string, string> | undefined)?.[csrfCookieName(secure)];
    if (!browser || !RESET_TOKEN_PATTERN.test(token)) return null;
    const key = createHash('sha256').update(`${browser}:${hashResetToken(token)}`);
    return `reset-page:${key.digest('hex')}`;
  }

  async function keep(req: Request, token: string, kept: Kept): Promise<void> {
    const sid = keptRow(req, token);
    if (!sid) return;
    const expiresAt = new Date(Date.now() + KEPT_MS);
    await deps.context(req).models.WebSession.upsert({ sid, data: JSON.stringify(kept), expiresAt });
  }

  /** What was kept; a refusal is handed out once (a reload shows the page as it is), the done page stays. */
  async function kept(req: Request, token: string): Promise<Kept | null> {
    const sid = keptRow(req, token);
    const { WebSession } = deps.context(req).models;
    const row = sid ? await WebSession.findByPk(sid) : null;
    if (!row || row.expiresAt.getTime() <= Date.now()) return null;
    const value = JSON.parse(row.data) as Kept;
    if (!('done' in value)) await row.destroy();
    return value;
  }

  /** A refused link's page, worded for what became of it; `afterPost`: a password was typed and not saved. */
  async function refused(req: Request, res: Response, token: string, reason: RefusedLinkReason, afterPost: boolean) {
    const page = REFUSED_LINK_PAGES[await whatBecameOf(deps.context(req), token, reason)];
    res.status(410).render('password-reset-refused', { title: page.heading, ...page, notSaved: afterPost });
  }

  function renderForm(req: Request, res: Response, view: Record<string, unknown>) {
    const title = view.firstPassword ? 'Choose your password' : 'Choose a new password';
    res.render('password-reset', { title, csrf: deps.csrf.token(req, res), length: PASSWORD_LENGTH, ...view });
  }

  router.get('/password/reset/:token', privatePage, async (req, res, next) => {
    const token = String(req.params.token);
    try {
      const shown = await kept(req, token);
      // Refused by its post, and audited there: said once more, not refused (and audited) again.
      if (shown && 'linkRefused' in shown) return await refused(req, res, token, shown.linkRefused, true);
      const { user } = await openResetLink(deps.context(req), token);
      const refusal = shown && 'refused' in shown ? shown.refused : undefined;
      if (refusal) res.status(refusal.status);
      const fields = refusal?.fields ?? {};
      renderForm(req, res, {
        token,
        username: user.username,
        firstPassword: firstPasswordDetail(user).firstPassword === true,
        error: refusal?.message,
        fields,
        fieldError: fields.password ?? fields.confirmation,
      });
    } catch (error) {
      if (error instanceof ResetLinkError) return refused(req, res, token, error.reason, false).catch(next);
      next(error);
    }
  });

  // Nothing of a post too large to read is checked or spent: the form again, its link still usable.
  const resetForm = pageFormBody(FORM_LIMITS, (req, res, next) => {
    const token = String(req.params.token);
    const error = passwordTooLong();
    keep(req, token, { refused: { status: 413, message: error.message, fields: error.fields } })
      .then(() => res.redirect(303, linkPath(token)))
      .catch(next);
  });

  router.post('/password/reset/:token', privatePage, resetForm, deps.csrf.check, async (req, res, next) => {
    const token = String(req.params.token);
    const body = req.body as Record<string, unknown>;
    try {
      const { user } = await openResetLink(deps.context(req), token);
      // Told before the password is set: the account had none, and nobody ever signed in to it.
      const firstPassword = firstPasswordDetail(user).firstPassword === true;
      await completePasswordReset(deps.context(req), token, {
        password: body.password,
        confirmation: body.confirmation,
      });
      const returnTo = deps.provider
        ? await whereToAfterReset(deps.context(req), deps.provider(), req, res, secure)
        : null;
      await keep(req, token, { done: { firstPassword, returnTo } });
      res.redirect(303, `${linkPath(token)}/done`);
    } catch (error) {
      if (!(error instanceof ResetLinkError || error instanceof ValidationError)) return next(error);
      const shown: Kept =
        error instanceof ResetLinkError
          ? { linkRefused: error.reason }
          : { refused: { status: 400, message: error.message, fields: error.fields } };
      await keep(req, token, shown)
        .then(() => res.redirect(303, linkPath(token)))
        .catch(next);
    }
  });

  router.get('/password/reset/:token/done', privatePage, async (req, res, next) => {
    const token = String(req.params.token);
    try {
      const shown = await kept(req, token);
      // Another browser, or long after: the link's own page says what became of it.
      if (!shown || !('done' in shown)) return res.redirect(303, linkPath(token));
      const title = shown.done.firstPassword ? 'Password set' : 'Password changed';
      res.render('password-reset-done', { title, ...shown.done });
    } catch (error) {
      next(error);
    }
  });

  return router;
}
