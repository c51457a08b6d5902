import express, { Router, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { isAppError } from '../../core/errors.ts';
import { setRetryAfter } from '../../core/retry-after.ts';
import {
  AccountLockedError,
  authenticate,
  InvalidCredentialsError,
  type LoginPolicy,
} from '../accounts/authenticate.ts';
import type { GatewayContext } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import type { KnownDeviceCookie } from '../http/known-device-cookie.ts';
import { pageFormBody } from '../http/page-form-body.ts';
import { ADMIN_SCOPE } from '../oidc/admin-scope.ts';
import { NODE_SCOPE } from '../oidc/node-scope.ts';
import { reloadConsoleActor } from '../accounts/console-access.ts';
import { describeResources, describeScopes } from './describe-scopes.ts';
import { APP_NOT_FOR_PERSON } from '../oidc/provider.ts';
import { audiencesFor, signInRefusal } from '../apps-registry/app-access.ts';
import type { TotpDeps } from '../factors/totp.ts';
import { SIGN_IN_CANCELLED } from './cancelled.ts';
import { afterPassword, pendingSignIn, renderPendingStep, secondFactorRoutes } from './second-factor-routes.ts';
import { loginRefusalOf, refuseLogin, showLoginRefusal } from './login-refusal.ts';
import { keepSignInApp, SIGN_IN_OVER, wayOn } from './sign-in-over.ts';

export type InteractionDeps = {
  provider: () => Provider;
  context: (req: Request) => GatewayContext;
  csrf: Csrf;
  loginPolicy: LoginPolicy;
  totp: TotpDeps;
  devices: KnownDeviceCookie;
};

const FORM_LIMITS = { limit: '16kb', parameterLimit: 20 };
const form = express.urlencoded({ extended: false, ...FORM_LIMITS });

/** What the login page says of a password too long for its form to read, which no account can have. */
const PASSWORD_FAR_TOO_LONG = 'That password is far longer than any password here. Type it again.';

/** The login and consent pages the provider sends people to; plain HTML forms that work without JavaScript. */
export function interactionRoutes(deps: InteractionDeps): Router {
  const router = Router();

  router.get('/interaction/:uid', async (req, res, next) => {
    try {
      const details = await deps.provider().interactionDetails(req, res);
      // Each step's page carries a form token and says where a sign-in stands: never kept by a cache, so
      // Back asks for it again, and learns when the sign-in is over.
      res.set('Cache-Control', 'no-store');
      keepSignInApp(deps.provider(), req, res, String(details.params.client_id));
      const client = await deps.provider().Client.find(String(details.params.client_id));
      const base = {
        uid: details.uid,
        csrf: deps.csrf.token(req, res),
        clientName: client?.clientName ?? client?.clientId,
      };
      if (details.prompt.name === 'login') {
        const pending = pendingSignIn(details);
        if (pending) return await renderPendingStep(deps, req, res, details, pending);
        const refused = loginRefusalOf(details);
        if (refused) return await showLoginRefusal(deps, req, res, details, refused);
        return res.render('login', { ...base, title: 'Sign in', loginHint: details.params.login_hint });
      }
      // An app that is not for this person: say why here, then send access_denied back to the app.
      const refusal = await refusalOf(deps, req, details);
      if (refusal)
        return res.status(403).render('app-refused', { ...base, title: 'Not available to you', reason: refusal });
      // A first-party app never shows a consent screen, even when it asks for one (offline access
      // requires prompt=consent): opening it from chat stays one click.
      const missing = details.prompt.details as {
        missingOIDCScope?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      // Except for administering Atrium, which the person is always asked about.
      const asksToAdminister = (missing.missingOIDCScope ?? []).includes(ADMIN_SCOPE);
      // Only an administrator (of the campus or of units) may allow it; anyone else is told so at once.
      if (
        asksToAdminister &&
        details.session &&
        !(await reloadConsoleActor(deps.context(req), details.session.accountId))
      ) {
        return await deps
          .provider()
          .interactionFinished(
            req,
            res,
            { error: 'access_denied', error_description: `Only administrators may allow ${ADMIN_SCOPE}` },
            { mergeWithLastSubmission: false },
          );
      }
      if (client?.['first_party'] === true && details.session && !asksToAdminister)
        return await grantConsent(deps.provider(), req, res, details);
      res.render('consent', { ...base, ...(await consentLines(deps, req, details, missing)) });
    } catch (error) {
      next(error);
    }
  });

  // A sign-in page asked for again once its sign-in is over (on-error.ts sends here): says so, and leads
  // to the app it was for. A sign-in still going on in this browser is not over: its page.
  router.get('/interaction/:uid/over', async (req, res, next) => {
    try {
      if (await stillGoingOn(deps.provider(), req, res)) return res.redirect(303, `/interaction/${req.params.uid}`);
      res
        .status(400)
        .set('Cache-Control', 'no-store')
        .render('error', { ...SIGN_IN_OVER, wayOn: await wayOn(deps.context(req), deps.provider(), req) });
    } catch (error) {
      next(error);
    }
  });

  // Nothing of a post too large to read is checked, nor counts as a guess: the login page again.
  const loginForm = pageFormBody(FORM_LIMITS, (req, res, next) => {
    const again = async () => {
      const details = await deps.provider().interactionDetails(req, res);
      if (details.prompt.name !== 'login') return res.redirect(303, `/interaction/${details.uid}`);
      res.status(413);
      await refuseLogin(deps, req, res, details, {
        loginHint: details.params.login_hint,
        error: PASSWORD_FAR_TOO_LONG,
        wrongPassword: true,
      });
    };
    again().catch(next);
  });

  router.post('/interaction/:uid/login', loginForm, deps.csrf.check, async (req, res, next) => {
    const provider = deps.provider();
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') return res.redirect(303, `/interaction/${details.uid}`);
      const body = req.body as Record<string, unknown>;
      const identifier = typeof body.username === 'string' ? body.username : '';
      const password = typeof body.password === 'string' ? body.password : '';
      try {
        const user = await passwordSignIn(deps, req, identifier, password);
        await afterPassword(deps, req, res, details, user);
      } catch (error) {
        if (!isAppError(error)) throw error;
        setRetryAfter(res, error);
        res.status(error.status);
        await refuseLogin(deps, req, res, details, {
          loginHint: identifier,
          error: error.message,
          locked: error instanceof AccountLockedError,
          wrongPassword: error instanceof InvalidCredentialsError,
        });
      }
    } catch (error) {
      next(error);
    }
  });

  router.use(secondFactorRoutes(deps));

  router.post('/interaction/:uid/confirm', form, deps.csrf.check, async (req, res, next) => {
    const provider = deps.provider();
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'consent' || !details.session)
        return res.redirect(303, `/interaction/${details.uid}`);
      if (details.prompt.reasons.includes(APP_NOT_FOR_PERSON)) return res.redirect(303, `/interaction/${details.uid}`);
      await grantConsent(provider, req, res, details);
    } catch (error) {
      next(error);
    }
  });

  router.post('/interaction/:uid/abort', form, deps.csrf.check, async (req, res, next) => {
    try {
      const details = await deps.provider().interactionDetails(req, res);
      const refusal = await refusalOf(deps, req, details);
      await deps
        .provider()
        .interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: refusal ?? SIGN_IN_CANCELLED },
          { mergeWithLastSubmission: false },
        );
    } catch (error) {
      next(error);
    }
  });

  return router;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** Whether this browser's sign-in at the address's uid is still going on (its interaction, its cookie). */
async function stillGoingOn(provider: Provider, req: Request, res: Response): Promise<boolean> {
  try {
    return (await provider.interactionDetails(req, res)).uid === req.params.uid;
  } catch (error) {
    if (error instanceof Error && error.name === 'SessionNotFound') return false;
    throw error;
  }
}

/** The password step, for this browser: one the person signed in with before goes on through their lockout. */
const passwordSignIn = (deps: InteractionDeps, req: Request, identifier: string, password: string) =>
  authenticate(deps.context(req), identifier, password, deps.loginPolicy, deps.devices.read(req));

/** Why the app of this interaction is not for the signed-in person, when the provider's check said so. */
async function refusalOf(deps: InteractionDeps, req: Request, details: Details): Promise<string | null> {
  if (details.prompt.name !== 'consent' || !details.prompt.reasons.includes(APP_NOT_FOR_PERSON) || !details.session)
    return null;
  return signInRefusal(deps.context(req), String(details.params.client_id), details.session.accountId);
}

/** The scopes the OpenID side of a request asks for, `im` (a node's, shown as its nodes) aside. */
const askedOIDCScopes = (details: Details) =>
  String(details.params.scope ?? '')
    .split(' ')
    .filter((scope) => scope && scope !== NODE_SCOPE);

/**
 * What the consent page lists: what the app asks for beyond what the person allowed it, and only the
 * nodes it may reach for them. When that is nothing (the app asks again with prompt=consent for what it
 * holds), the page says what the app already has and asks whether to continue, rather than showing
 * "asks to:" over an empty list.
 */
async function consentLines(
  deps: InteractionDeps,
  req: Request,
  details: Details,
  missing: { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> },
) {
  const reachable = details.session
    ? await audiencesFor(deps.context(req), String(details.params.client_id), details.session.accountId)
    : new Set<string>();
  const scopes = describeScopes(missing.missingOIDCScope ?? []);
  const resources = await describeResources(
    deps.context(req),
    Object.keys(missing.missingResourceScopes ?? {}),
    reachable,
  );
  if (scopes.length > 0 || resources.length > 0) return { title: 'Allow access', scopes, resources, listed: true };
  const asked = details.params.resource;
  const granted = {
    scopes: describeScopes(askedOIDCScopes(details)),
    resources: await describeResources(
      deps.context(req),
      (Array.isArray(asked) ? asked : [asked]).filter((url): url is string => typeof url === 'string'),
      reachable,
    ),
  };
  const listed = granted.scopes.length > 0 || granted.resources.length > 0;
  return { title: 'Continue?', already: true, listed, ...granted };
}

/** Grants what the consent prompt found missing, and resumes the authorization. */
async function grantConsent(provider: Provider, req: Request, res: Response, details: Details): Promise<void> {
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}
