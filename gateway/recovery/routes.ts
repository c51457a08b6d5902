import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type Provider from 'oidc-provider';
import { RateLimitedError, ValidationError } from '../../core/errors.ts';
import type { GatewayContext } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import { pageFormBody } from '../http/page-form-body.ts';
import { completePasswordReset, openResetLink, passwordTooLong } from './complete-reset.ts';
import { ResetLinkError } from './errors.ts';
import { admitResetRequest, mailResetLink, type RecoveryDeps } from './request-reset.ts';
import { keepSignIn, whereToAfterReset } from './return-to-sign-in.ts';

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

  router.get('/password/reset/:token', privatePage, async (req, res, next) => {
    try {
      const { user } = await openResetLink(deps.context(req), String(req.params.token));
      renderResetForm(req, res, { token: String(req.params.token), username: user.username });
    } catch (error) {
      if (error instanceof ResetLinkError) return refused(res, error);
      next(error);
    }
  });

  // Nothing of a post too large to read is checked or spent: the form again, its link still usable.
  const resetForm = pageFormBody(FORM_LIMITS, (req, res, next) => {
    res.status(413);
    void renderResetAgain(req, res, next, String(req.params.token), passwordTooLong());
  });

  router.post('/password/reset/:token', privatePage, resetForm, deps.csrf.check, async (req, res, next) => {
    const token = String(req.params.token);
    const body = req.body as Record<string, unknown>;
    try {
      await completePasswordReset(deps.context(req), token, {
        password: body.password,
        confirmation: body.confirmation,
      });
      const returnTo = deps.provider
        ? await whereToAfterReset(deps.context(req), deps.provider(), req, res, deps.secure ?? false)
        : null;
      res.render('password-reset-done', { title: 'Password changed', returnTo });
    } catch (error) {
      if (error instanceof ResetLinkError) return refused(res, error);
      if (!(error instanceof ValidationError)) return next(error);
      res.status(400);
      await renderResetAgain(req, res, next, token, error);
    }
  });

  /** The reset form again with what was wrong, while its link may still be used. */
  async function renderResetAgain(
    req: Request,
    res: Response,
    next: NextFunction,
    token: string,
    error: ValidationError,
  ) {
    try {
      const { user } = await openResetLink(deps.context(req), token);
      renderResetForm(req, res, { token, username: user.username, error: error.message, fields: error.fields });
    } catch (again) {
      if (again instanceof ResetLinkError) return refused(res, again);
      next(again);
    }
  }

  function renderResetForm(
    req: Request,
    res: Response,
    view: { token: string; username: string; error?: string; fields?: Record<string, string> },
  ) {
    res.render('password-reset', { title: 'Choose a new password', csrf: deps.csrf.token(req, res), ...view });
  }

  return router;
}

function refused(res: Response, error: ResetLinkError): void {
  res.status(error.status).render('password-reset-refused', { title: 'Link not usable', message: error.message });
}
