import { createHash } from 'node:crypto';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type Provider from 'oidc-provider';
import { RateLimitedError, ValidationError } from '../../core/errors.ts';
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

/** A page that is never opened after its redirect (a closed tab) does not keep its result past this. */
const KEPT_MS = 10 * 60_000;

/**
 * What a page shows after its post's redirect (post/redirect/get), kept server-side in a `web_sessions` row of
 * this browser (its form-token cookie) and this page, for a few minutes: Back and Reload ask for a page again,
 * and never send its form again.
 */
function pageKeeper(deps: RecoveryRouteDeps) {
  const secure = deps.secure ?? false;

  /** The row of what is kept for this browser and page; none without the browser's form-token cookie. */
  function rowOf(req: Request, page: string): string | null {
    const browser = (req.cookies as Record<string, string> | undefined)?.[csrfCookieName(secure)];
    if (!browser) return null;
    return `kept-page:${createHash('sha256').update(`${browser}:${page}`).digest('hex')}`;
  }

  return {
    async keep(req: Request, page: string, value: unknown): Promise<void> {
      const sid = rowOf(req, page);
      if (!sid) return;
      const expiresAt = new Date(Date.now() + KEPT_MS);
      await deps.context(req).models.WebSession.upsert({ sid, data: JSON.stringify(value), expiresAt });
    },
    /** What was kept; handed out once unless `stays` says it is shown as often as the page is reloaded. */
    async kept<T>(req: Request, page: string, stays: (value: T) => boolean = () => false): Promise<T | null> {
      const sid = rowOf(req, page);
      const { WebSession } = deps.context(req).models;
      const row = sid ? await WebSession.findByPk(sid) : null;
      if (!row || row.expiresAt.getTime() <= Date.now()) return null;
      const value = JSON.parse(row.data) as T;
      if (!stays(value)) await row.destroy();
      return value;
    },
  };
}

/** "Forgot password" for local accounts: ask for a link by mail, then choose a new password through it. */
export function recoveryRoutes(deps: RecoveryRouteDeps): Router {
  const router = Router();
  router.use(forgotRoutes(deps));
  router.use(resetLinkRoutes(deps));
  return router;
}

/** What "forgot password" shows after its post's redirect when it mailed nothing: never the account's fate. */
type ForgotRefused = { status: number; message: string; identifier: string; retryAfterSeconds?: number };

const FORGOT_PAGE = 'password-forgot';
const forgotPath = (page: string, interaction: string | undefined) =>
  interaction ? `${page}?interaction=${encodeURIComponent(interaction)}` : page;

/**
 * The form asking for a link, and the page saying it is on its way. The post is answered by a redirect
 * (post/redirect/get): to "Check your mail", the same whatever was typed, whose reload mails nothing; or,
 * refused (a form left empty, too many requests from the network), to the form, saying why once; or,
 * without mail, to the form's page, which says recovery by mail is not set up.
 */
function forgotRoutes(deps: RecoveryRouteDeps): Router {
  const router = Router();
  const keeper = pageKeeper(deps);

  /** The "forgot password" page, whatever it says: the directories' own reset pages are always on it. */
  async function renderForgot(res: Response, view: Record<string, unknown>): Promise<void> {
    const directories = (await deps.directoryPages?.()) ?? [];
    res.render('password-forgot', { title: 'Forgot password', directories, ...view });
  }

  /** Back to the form, which says once why nothing was mailed. */
  async function refuse(req: Request, res: Response, refused: ForgotRefused, interaction?: string) {
    await keeper.keep(req, FORGOT_PAGE, refused);
    res.redirect(303, forgotPath('/password/forgot', interaction));
  }

  router.get('/password/forgot', async (req, res, next) => {
    try {
      const refused = await keeper.kept<ForgotRefused>(req, FORGOT_PAGE);
      if (refused) res.status(refused.status);
      if (refused?.retryAfterSeconds !== undefined) res.set('Retry-After', String(refused.retryAfterSeconds));
      await renderForgot(res, {
        csrf: deps.csrf.token(req, res),
        unavailable: !deps.recovery,
        identifier: refused?.identifier,
        error: refused?.message,
        ...signInToReturnTo(req.query.interaction),
      });
    } catch (error) {
      next(error);
    }
  });

  // The sign-in it came from was named in the body, unread: back to the portal, which starts one.
  const forgotForm = pageFormBody(FORM_LIMITS, (req, res, next) => {
    refuse(req, res, { status: 413, message: 'Enter your username or email.', identifier: '' }).catch(next);
  });

  router.post('/password/forgot', forgotForm, deps.csrf.check, async (req, res, next) => {
    const recovery = deps.recovery;
    const body = req.body as Record<string, unknown>;
    const { interaction } = signInToReturnTo(body.interaction);
    const identifier = body.identifier;
    try {
      // A form loaded before mail was turned off: back to the form's page, which says it is not set up.
      if (!recovery) return res.redirect(303, forgotPath('/password/forgot', interaction));
      const admitted = await admitResetRequest(deps.context(req), recovery, { identifier });
      if (interaction && deps.provider)
        await keepSignIn(deps.provider(), res, {
          uid: interaction,
          secure: deps.secure ?? false,
          ttlMinutes: recovery.ttlMinutes,
        });
      res.redirect(303, forgotPath('/password/forgot/sent', interaction));
      // After the answer: whatever depends on the account (lookup, limits, link, mail) cannot be timed.
      mailResetLink(deps.context(req), recovery, admitted.identifier).catch((err: unknown) =>
        recovery.logger.error({ err }, 'a password reset request failed after its answer'),
      );
    } catch (error) {
      if (!(error instanceof ValidationError || error instanceof RateLimitedError)) return next(error);
      // A person whose password is their directory's needs its reset page most when this one says no.
      const refused: ForgotRefused = {
        status: error.status,
        message: error instanceof ValidationError ? 'Enter your username or email.' : error.message,
        identifier: typeof identifier === 'string' ? identifier : '',
        retryAfterSeconds: error instanceof RateLimitedError ? error.retryAfterSeconds : undefined,
      };
      await refuse(req, res, refused, interaction).catch(next);
    }
  });

  // Says only what the post did for anyone, so its reload (or a visit) mails nothing and tells nothing.
  router.get('/password/forgot/sent', (req, res) => {
    if (!deps.recovery) return res.redirect(303, '/password/forgot');
    res.render('password-forgot-sent', {
      title: 'Check your mail',
      ttlMinutes: deps.recovery.ttlMinutes,
      ...signInToReturnTo(req.query.interaction),
    });
  });

  return router;
}

/** What the link's page shows after its post's redirect (post/redirect/get); never the password typed. */
type Kept =
  | { refused: { status: number; message: string; fields?: Record<string, string> } }
  | { linkRefused: RefusedLinkReason }
  | { done: { firstPassword: boolean; returnTo: ReturnTo | null } };

const linkPath = (token: string) => `/password/reset/${encodeURIComponent(token)}`;

/**
 * The link's pages: its form, and the page saying it is done. Each post is answered by a redirect to a page
 * (post/redirect/get), so Back and Reload ask for a page again and never send a password again. What the page
 * is to show is kept (pageKeeper) for this browser and link: a refusal is shown once, the done page as often as
 * it is reloaded.
 */
function resetLinkRoutes(deps: RecoveryRouteDeps): Router {
  const router = Router();
  const secure = deps.secure ?? false;
  const keeper = pageKeeper(deps);
  const linkPage = (token: string) => `reset:${hashResetToken(token)}`;

  async function keep(req: Request, token: string, kept: Kept): Promise<void> {
    if (RESET_TOKEN_PATTERN.test(token)) await keeper.keep(req, linkPage(token), kept);
  }

  /** What was kept; a refusal is handed out once (a reload shows the page as it is), the done page stays. */
  async function kept(req: Request, token: string): Promise<Kept | null> {
    if (!RESET_TOKEN_PATTERN.test(token)) return null;
    return keeper.kept<Kept>(req, linkPage(token), (value) => 'done' in value);
  }

  /** A refused link's page, worded for what became of it; `afterPost`: a password was typed and not saved. */
  async function refused(req: Request, res: Response, token: string, reason: RefusedLinkReason, afterPost: boolean) {
    const page = REFUSED_LINK_PAGES[await whatBecameOf(deps.context(req), token, reason)];
    res.status(410).render('password-reset-refused', { title: page.heading, ...page, notSaved: afterPost });
  }

  function renderForm(req: Request, res: Response, view: Record<string, unknown>) {
    const title = view.firstPassword ? 'Choose your password' : 'Choose a new password';
    res.render('password-reset', { title, csrf: deps.csrf.token(req, res), ...view });
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
