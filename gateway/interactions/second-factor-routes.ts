import express, { Router, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { isAppError } from '../../core/errors.ts';
import { setRetryAfter } from '../../core/retry-after.ts';
import { AccountLockedError, type LoginPolicy } from '../accounts/authenticate.ts';
import { lockState } from '../accounts/known-devices.ts';
import type { GatewayContext } from '../context.ts';
import type { Csrf } from '../http/csrf.ts';
import type { KnownDeviceCookie } from '../http/known-device-cookie.ts';
import type { User } from '../models/index.ts';
import { asksForSecondFactor, MFA_ACR, PASSWORD_ACR } from '../factors/acr.ts';
import { presentEnrolment } from '../factors/enrolment-view.ts';
import { secondFactorRequired } from '../factors/policy.ts';
import { verifySecondFactor } from '../factors/second-step.ts';
import { EnrolmentClosedError } from '../factors/errors.ts';
import { beginTotpEnrolment, confirmTotpEnrolment, openTotpEnrolment, type TotpDeps } from '../factors/totp.ts';
import { hasSecondFactor, secondFactorChoices } from '../factors/passkeys/second-factor-choices.ts';
import { interactionBinding } from '../factors/binding.ts';
import { recoveryCodesDownload } from '../factors/recovery-codes-download.ts';
import { PASSKEY_AS_SECOND_FACTOR_AMR } from '../factors/passkeys/amr.ts';
import { type CodeKind, type Refusal, refusalOf, refusedError, remember, showOnce } from './shown-once.ts';
import { mustChooseOwnPassword } from '../accounts/choose-own-password.ts';
import { choosePasswordRoute, renderChoosePassword } from './choose-password-step.ts';

export type SecondFactorDeps = {
  provider: () => Provider;
  context: (req: Request) => GatewayContext;
  csrf: Csrf;
  loginPolicy: LoginPolicy;
  totp: TotpDeps;
  /** The browsers people finished signing in with, which a lockout lets through (known-devices.ts). */
  devices: KnownDeviceCookie;
};

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * Where a sign-in stands between the password and the end of the login prompt, kept in the interaction
 * itself (server-side, bound to the browser's interaction cookie): who passed the password check, and
 * whether they must still enter a code, finish enrolling, or only continue after seeing recovery codes.
 */
export type PendingSignIn = {
  accountId: string;
  step: 'code' | 'enrol' | 'enrolled' | 'new-password';
  /** At `enrolled`: what was set up, which the sign-in then counts as its second factor. */
  factor?: 'totp' | 'passkey';
  /** When the password was checked (epoch ms); absent in a sign-in begun before it was recorded. */
  since?: number;
  /** A refused post's refusal, which the step's page (redirected to) shows once (shown-once.ts). */
  refused?: Refusal;
  /** At `enrolled`: the recovery codes, sealed, until the step's page has shown them once. */
  codes?: string;
  /** At `new-password`: how the person signed in, which the sign-in finishes with once they chose one. */
  login?: SignInLogin;
};

/** What a finished sign-in hands the provider: who, and how they proved it. */
export type SignInLogin = { accountId: string; amr: string[]; acr: string };

export function pendingSignIn(details: Details): PendingSignIn | null {
  const pending = (details.result as { atrium?: PendingSignIn } | undefined)?.atrium;
  return pending && typeof pending.accountId === 'string' ? pending : null;
}

/**
 * The person a pending sign-in is for, while still active: one disabled since the password step is not,
 * nor one whose access was ended since (endedSincePassword).
 */
export async function pendingPerson(ctx: GatewayContext, pending: PendingSignIn): Promise<User | null> {
  const user = await ctx.models.User.findByPk(pending.accountId);
  return user && user.status === 'active' && !endedSincePassword(user, pending) ? user : null;
}

/**
 * Whether the person's access was ended (their second factors reset, a sign-out everywhere, a new password)
 * after this sign-in's password was checked: the sign-in was one of theirs that the ending meant to stop,
 * and whatever step it was at may no longer exist (no factor left to enter a code of).
 */
const endedSincePassword = (user: Pick<User, 'accessEndedAt'>, pending: PendingSignIn): boolean =>
  pending.since !== undefined && user.accessEndedAt != null && user.accessEndedAt.getTime() >= pending.since;

const SIGN_IN_AGAIN =
  'Your sign-in was stopped because your account was signed out everywhere meanwhile (for example, when your second factor was reset). Sign in again.';

/**
 * A pending sign-in whose person's access ended since its password (endedSincePassword) starts over at the
 * password, saying why: the ending signed them out everywhere, and a sign-in begun before it goes on only
 * with the password again. True when it did; the caller answers nothing more.
 */
async function restartedIfEnded(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  pending: PendingSignIn,
): Promise<boolean> {
  const user = await deps.context(req).models.User.findByPk(pending.accountId, { attributes: ['id', 'accessEndedAt'] });
  if (!user || !endedSincePassword(user, pending)) return false;
  // A post: its page, by a redirect, starts over and says why (Back and Reload then post nothing again).
  if (req.method !== 'GET') {
    res.redirect(303, `/interaction/${details.uid}`);
    return true;
  }
  await deps.provider().interactionResult(req, res, {}, { mergeWithLastSubmission: false });
  const client = await deps.provider().Client.find(String(details.params.client_id));
  res.render('login', {
    title: 'Sign in',
    uid: details.uid,
    csrf: deps.csrf.token(req, res),
    clientName: client?.clientName ?? client?.clientId,
    loginHint: details.params.login_hint,
    error: SIGN_IN_AGAIN,
  });
  return true;
}

const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

/** The step's address once a setup was started there (`?setup=`): shows its key, or says it has ended. */
const SETUP = 'authenticator';

const ENROL_REQUIRED =
  'Your campus requires a second factor for your account. Set up an authenticator app or add a passkey to continue.';
const ENROL_ASKED = 'This app asks for a second factor. Set up an authenticator app or add a passkey to continue.';

/**
 * Ends the login prompt of a finished sign-in (the password and any second step, or a passkey alone):
 * from now on this browser is known for the person, and their account's lockout lets them through here.
 * A sign-in with a temporary password (an administrator's, choose-own-password.ts) stops first, after its
 * second factor and before anything else, for the person to choose their own (`new-password`): a sign-in
 * with a passkey alone used no password, and goes on.
 */
export async function finishSignIn(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  login: SignInLogin,
): Promise<void> {
  if (login.amr.includes('pwd') && (await mustChooseOwnPassword(deps.context(req), login.accountId)))
    return askForOwnPassword(deps, req, res, login);
  deps.devices.remember(req, res, login.accountId);
  await deps.provider().interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

/** Moves the sign-in to its `new-password` step, keeping how it signed in, and leads to the step's page. */
async function askForOwnPassword(deps: SecondFactorDeps, req: Request, res: Response, login: SignInLogin) {
  const details = await deps.provider().interactionDetails(req, res);
  const since = pendingSignIn(details)?.since ?? Date.now();
  await remember(deps.provider(), req, res, { accountId: login.accountId, step: 'new-password', since, login });
  res.redirect(303, `/interaction/${details.uid}`);
}

/**
 * After a correct password: finishes the login, or moves it to the second step (a code, or an enrolment
 * a person required to have a factor cannot skip). Returns nothing; it answers the request itself.
 */
export async function afterPassword(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  user: User,
): Promise<void> {
  const ctx = deps.context(req);
  const step: PendingSignIn['step'] | null = (await hasSecondFactor(ctx, user.id))
    ? 'code'
    : asksForSecondFactor(details.params.acr_values) || (await secondFactorRequired(ctx, user))
      ? 'enrol'
      : null;
  if (!step) return finishSignIn(deps, req, res, { accountId: user.id, amr: ['pwd'], acr: PASSWORD_ACR });
  const pending: PendingSignIn = { accountId: user.id, step, since: Date.now() };
  await deps.provider().interactionResult(req, res, { atrium: pending }, { mergeWithLastSubmission: false });
  res.redirect(303, `/interaction/${details.uid}`);
}

/**
 * A sign-in waiting at the code step of someone who has no second factor any more (they removed their
 * only one in another window meanwhile) is decided again, as after the password: finished with the
 * password, or on to setting one up where one is required. Otherwise it would ask for recovery codes that
 * no longer exist, and count whatever is typed as a wrong code. Whether it was decided so.
 */
async function redecidedWithoutFactor(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  pending: PendingSignIn,
): Promise<boolean> {
  if (pending.step !== 'code') return false;
  const ctx = deps.context(req);
  if (await hasSecondFactor(ctx, pending.accountId)) return false;
  const user = await ctx.models.User.findByPk(pending.accountId);
  if (!user) return false;
  await afterPassword(deps, req, res, details, user);
  return true;
}

/** Which of the step's code fields a code came from (its form's `kind`): the app's, or a recovery code's. */
const codeKind = (req: Request): CodeKind | undefined => {
  const kind = (req.body as Record<string, unknown>).kind;
  return kind === 'app' || kind === 'recovery' ? kind : undefined;
};

/**
 * A refused code, said at the field it was typed in, in that field's terms. Either field takes either kind
 * of code, and which check failed is never told: only what the person meant to enter. The one exception is
 * a recovery code of a set newer codes replaced: said as such (its own words, Refusal.ownWords), to
 * someone who has given the password, so that they look for their newest codes.
 */
const CODE_REFUSED: Record<CodeKind, string> = {
  app: 'That code is not valid. Enter the six-digit code your authenticator app shows now.',
  recovery: 'That recovery code is not valid. Check it for typing mistakes; each code works only once.',
};

/**
 * The page of a pending second step, for GET /interaction/:uid. A post refused (`error`; a code refused: at
 * the field of `kind`, the form it came from) is answered with a redirect to it, which shows the refusal
 * once: the browser's Back and Reload then ask for the page again instead of posting the form again.
 */
export async function renderPendingStep(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  pending: PendingSignIn,
  error?: { status: number; message: string },
  kind?: CodeKind,
): Promise<void> {
  if (error && req.method !== 'GET') {
    await remember(deps.provider(), req, res, { ...pending, refused: refusalOf(error, kind) });
    return res.redirect(303, `/interaction/${details.uid}`);
  }
  if (await restartedIfEnded(deps, req, res, details, pending)) return;
  if (await redecidedWithoutFactor(deps, req, res, details, pending)) return;
  res.set('Cache-Control', 'no-store');
  let ownWords = false;
  if (pending.refused) {
    await showOnce(deps.provider(), req, res, pending, 'refused');
    ({ error, kind, ownWords } = refusedError(pending.refused));
  }
  if (pending.step === 'new-password') return renderChoosePassword(deps, req, res, details, error);
  if (pending.step === 'code') {
    // Locked out (by wrong codes here, or meanwhile elsewhere) at this browser: said, with the time left
    // now, instead of a box that can only be refused until the time is up; a reload says it again. A
    // passkey is still offered.
    const lockedUntil = await lockedHere(deps, req, pending.accountId);
    const locked = lockedUntil !== null;
    if (lockedUntil) error = AccountLockedError.until(lockedUntil);
    setRetryAfter(res, error);
    // A code, a passkey, or both: whichever the person has.
    const choices = await secondFactorChoices(deps.context(req), pending.accountId);
    const codeError = locked ? undefined : kind;
    return res.status(error?.status ?? 200).render('second-factor', {
      uid: details.uid,
      csrf: deps.csrf.token(req, res),
      // A code refused as just used, cut short or of a replaced set says so, at whichever field it was typed in.
      error: codeError && !ownWords ? CODE_REFUSED[codeError] : error?.message,
      codeError,
      ...choices,
      locked,
      title: locked
        ? choices.offerPasskey
          ? 'Use your passkey'
          : 'Signing in is paused'
        : choices.hasApp || !choices.offerPasskey
          ? 'Enter your code'
          : 'Use your passkey',
    });
  }
  const base = { uid: details.uid, csrf: deps.csrf.token(req, res), error: error?.message };
  res.status(error?.status ?? 200);
  if (pending.step === 'enrolled') return renderEnrolled(deps, req, res, details, pending, base);
  const ctx = deps.context(req);
  const user = await ctx.models.User.findByPk(pending.accountId);
  if (!user) return res.redirect(303, `/interaction/${details.uid}`);
  // Only the key this sign-in was given ("Set up an authenticator app", a post): a GET starts none.
  const open = await openTotpEnrolment(ctx, deps.totp, user, interactionBinding(details));
  res.render('enrol-totp', {
    ...base,
    ...(open ? await presentEnrolment(open) : { startAction: `/interaction/${details.uid}/totp/start` }),
    // The steps asked for again (a reload, a tab come back to) after their key closed (ten minutes, or
    // replaced by another sign-in's): said, as on the account page, rather than starting over unexplained.
    setupEnded: !open && !error && req.method === 'GET' && req.query.setup === SETUP,
    title: 'Set up a second factor',
    required: asksForSecondFactor(details.params.acr_values) ? ENROL_ASKED : ENROL_REQUIRED,
    action: `/interaction/${details.uid}/enrol`,
    abortAction: `/interaction/${details.uid}/abort`,
  });
}

/**
 * When the account's lock ends, if it is locked for this browser (locked, and the browser not one its lock
 * lets through); null otherwise.
 */
async function lockedHere(deps: SecondFactorDeps, req: Request, accountId: string): Promise<Date | null> {
  const user = await deps.context(req).models.User.findByPk(accountId, {
    attributes: ['id', 'lockedUntil', 'accessEndedAt'],
  });
  if (!user) return null;
  const state = await lockState(deps.loginPolicy.deviceLimiter, user, deps.devices.read(req));
  return state === 'locked' || state === 'device_locked' ? user.lockedUntil : null;
}

const finishWithSecondFactor = (
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  accountId: string,
  amr: string[] = ['pwd', 'otp'],
) => finishSignIn(deps, req, res, { accountId, amr, acr: MFA_ACR });

/**
 * A factor set up at this sign-in's enrolment step: the interaction moves on to `enrolled`, and the step's
 * page (a redirect away, so that Back and Reload post nothing again) shows the recovery codes this once (a
 * reload says where to make new ones), with "Continue" to finish. Until then they wait in the interaction,
 * sealed as the authenticator's key is: its row must not hold them readable.
 */
export async function showEnrolled(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  pending: PendingSignIn,
  enrolled: { factor: 'totp' | 'passkey'; codes: string[]; user: User },
): Promise<void> {
  const { factor, codes } = enrolled;
  const { refused: _refused, ...rest } = pending;
  await remember(deps.provider(), req, res, {
    ...rest,
    step: 'enrolled',
    factor,
    codes: deps.totp.sealer.seal(JSON.stringify(codes)),
  });
  res.redirect(303, `/interaction/${details.uid}`);
}

/** The `enrolled` step's page: the recovery codes the first time it is shown, never again. */
async function renderEnrolled(
  deps: SecondFactorDeps,
  req: Request,
  res: Response,
  details: Details,
  pending: PendingSignIn,
  base: { uid: string; csrf: string; error?: string },
): Promise<void> {
  const view = {
    ...base,
    title: pending.factor === 'passkey' ? 'Passkey added' : 'Authenticator set up',
    factor: pending.factor,
    continueAction: `/interaction/${details.uid}/continue`,
  };
  if (!pending.codes) return res.render('recovery-codes', view);
  await showOnce(deps.provider(), req, res, pending, 'codes');
  const codes = JSON.parse(deps.totp.sealer.open(pending.codes)) as string[];
  const user = await deps.context(req).models.User.findByPk(pending.accountId, { attributes: ['id', 'username'] });
  res.render('recovery-codes', {
    ...view,
    codes,
    ...(user ? { download: recoveryCodesDownload(codes, user.username) } : {}),
  });
}

/** The second step's form posts: a code, an enrolment's confirming code, and "continue" after the recovery codes. */
export function secondFactorRoutes(deps: SecondFactorDeps): Router {
  const router = Router();

  // Each post must match the step the interaction is at; anything else goes back to its page.
  const at =
    (
      step: PendingSignIn['step'],
      handle: (req: Request, res: Response, details: Details, pending: PendingSignIn) => Promise<void>,
    ) =>
    async (req: Request, res: Response, next: express.NextFunction) => {
      try {
        const details = await deps.provider().interactionDetails(req, res);
        const pending = pendingSignIn(details);
        if (details.prompt.name !== 'login' || !pending || pending.step !== step)
          return res.redirect(303, `/interaction/${details.uid}`);
        if (await restartedIfEnded(deps, req, res, details, pending)) return;
        // Nothing to check a code against any more: to the step's page, which decides the sign-in again.
        if (step === 'code' && !(await hasSecondFactor(deps.context(req), pending.accountId)))
          return res.redirect(303, `/interaction/${details.uid}`);
        await handle(req, res, details, pending);
      } catch (error) {
        next(error);
      }
    };
  const code = (req: Request) => {
    const value = (req.body as Record<string, unknown>).code;
    return typeof value === 'string' ? value : '';
  };

  router.post(
    '/interaction/:uid/code',
    form,
    deps.csrf.check,
    at('code', async (req, res, details, pending) => {
      try {
        await verifySecondFactor(
          deps.context(req),
          deps.totp,
          pending.accountId,
          code(req),
          deps.loginPolicy,
          deps.devices.read(req),
        );
      } catch (error) {
        if (!isAppError(error)) throw error;
        return renderPendingStep(deps, req, res, details, pending, error, codeKind(req));
      }
      await finishWithSecondFactor(deps, req, res, pending.accountId);
    }),
  );

  router.post(
    '/interaction/:uid/enrol',
    form,
    deps.csrf.check,
    at('enrol', async (req, res, details, pending) => {
      const ctx = deps.context(req);
      const user = await pendingPerson(ctx, pending);
      if (!user) return res.redirect(303, `/interaction/${details.uid}`);
      let codes: string[];
      try {
        codes = await confirmTotpEnrolment(ctx, deps.totp, user, code(req), interactionBinding(details));
      } catch (error) {
        if (!isAppError(error)) throw error;
        // The key shown had closed (ten minutes, or replaced by another sign-in): a new one, as the refusal says.
        if (error instanceof EnrolmentClosedError)
          await beginTotpEnrolment(ctx, deps.totp, user, interactionBinding(details));
        return renderPendingStep(deps, req, res, details, pending, error);
      }
      await showEnrolled(deps, req, res, details, pending, { factor: 'totp', codes, user });
    }),
  );

  // Starting a setup writes its key (sealed, pending): a post with the page's CSRF token, never the step's
  // GET, which a reload or a link prefetcher repeats. It leads back to the step, which then shows the key.
  router.post(
    '/interaction/:uid/totp/start',
    form,
    deps.csrf.check,
    at('enrol', async (req, res, details, pending) => {
      const ctx = deps.context(req);
      const user = await pendingPerson(ctx, pending);
      if (!user) return res.redirect(303, `/interaction/${details.uid}`);
      try {
        await beginTotpEnrolment(ctx, deps.totp, user, interactionBinding(details));
      } catch (error) {
        if (!isAppError(error)) throw error;
        return renderPendingStep(deps, req, res, details, pending, error);
      }
      res.redirect(303, `/interaction/${details.uid}?setup=${SETUP}`);
    }),
  );

  router.post('/interaction/:uid/new-password', form, deps.csrf.check, at('new-password', choosePasswordRoute(deps)));

  router.post(
    '/interaction/:uid/continue',
    form,
    deps.csrf.check,
    at('enrolled', async (req, res, _details, pending) => {
      const amr = pending.factor === 'passkey' ? PASSKEY_AS_SECOND_FACTOR_AMR : ['pwd', 'otp'];
      await finishWithSecondFactor(deps, req, res, pending.accountId, amr);
    }),
  );

  return router;
}
