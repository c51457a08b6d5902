import { Op, UniqueConstraintError } from 'sequelize';
import { Secret, TOTP } from 'otpauth';
import { createSealer, type Sealer } from '../../core/seal.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { TotpFactor } from '../models/factors.ts';
import type { GatewayModels, User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { EnrolmentClosedError, FactorAlreadyEnrolledError, InvalidEnrolmentCodeError } from './errors.ts';
import { hasSecondFactor } from './passkeys/second-factor-choices.ts';
import { issueRecoveryCodes, unusedRecoveryCodes } from './recovery-codes.ts';
import { TotpCodeNotSixDigitsError } from './totp-errors.ts';
import type { Binding } from './binding.ts';

const PERIOD = 30;

/** What the TOTP use-cases need beside the context: the sealer of secrets and the name apps show. */
export type TotpDeps = { sealer: Sealer; issuerLabel: string };

/**
 * The name an authenticator app lists the account under: the campus's name (CAMPUS_NAME) where it has one,
 * else "Atrium id.campus.test". In an otpauth:// address a colon ends the issuer's part of the label, and
 * apps would show what follows it as part of the username: so a port is said in words, an IPv6 address is
 * written with dashes for its colons (as Windows' ipv6-literal.net names do: `[::1]` is `--1`), and a
 * colon in the campus's name becomes a dash. Only new setups show it: the label is no part of the codes,
 * so an app set up under another label keeps signing in.
 */
export function totpDeps(secretKey: string, issuer: string, campusName?: string): TotpDeps {
  return { sealer: createSealer(secretKey, 'totp-secrets'), issuerLabel: totpIssuerLabel(issuer, campusName) };
}

export function totpIssuerLabel(issuer: string, campusName?: string): string {
  if (campusName) return campusName.replace(/\s*:\s*/g, ' - ');
  const { hostname, port } = new URL(issuer);
  const host = hostname.startsWith('[') ? hostname.slice(1, -1).replaceAll(':', '-') : hostname;
  return `Atrium ${host}${port ? ` port ${port}` : ''}`;
}

function totpOf(deps: TotpDeps, user: User, secret: string): TOTP {
  return new TOTP({
    issuer: deps.issuerLabel,
    label: user.username,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD,
    secret: Secret.fromBase32(secret),
  });
}

export type PendingEnrolment = { secret: string; uri: string };

/**
 * How long an enrolment (or a replacement: replace-totp.ts) stays open: long enough to find the phone and
 * scan the code, short enough that a secret once on screen is soon worth nothing to whoever saw it.
 */
export const ENROLMENT_MINUTES = 10;

const isOpen = (factor: TotpFactor, binding: Binding, now = Date.now()) =>
  factor.confirmedAt === null &&
  factor.binding === binding &&
  factor.createdAt.getTime() > now - ENROLMENT_MINUTES * 60_000;

/**
 * Deletes the sealed secrets of enrolments left unconfirmed past ENROLMENT_MINUTES: none can be confirmed
 * any more (a late code is refused as closed, row or not), and a copy of the database should not keep
 * them. Run periodically; a confirmed authenticator is never touched.
 */
export async function sweepTotpEnrolments(models: GatewayModels, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - ENROLMENT_MINUTES * 60_000);
  const enrolments = await models.TotpFactor.destroy({ where: { confirmedAt: null, createdAt: { [Op.lte]: before } } });
  // A replacement (replace-totp.ts) left unconfirmed as long: its secret goes, the confirmed one stays.
  // Without hooks: a sweep may itself run from one of the model's update hooks, and must not set it off.
  const [replacements] = await models.TotpFactor.update(
    { replacementSecret: null, replacementBinding: null, replacementStartedAt: null },
    { where: { replacementStartedAt: { [Op.lte]: before } }, hooks: false },
  );
  return enrolments + replacements;
}

/**
 * Starts an enrolment for `binding` (the sign-in interaction or portal session the secret is shown to),
 * or shows again the one it started less than ENROLMENT_MINUTES ago: a new secret, kept sealed until
 * confirmed by one code from that binding alone. Any other pending secret of the person is replaced, so
 * a key seen on someone else's screen is never the one the person later sets up. A person who already
 * has a confirmed authenticator cannot set up another over it: they replace it (replace-totp.ts).
 */
export async function beginTotpEnrolment(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  binding: Binding,
): Promise<PendingEnrolment> {
  const existing = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
  if (existing?.confirmedAt) throw new FactorAlreadyEnrolledError();
  if (existing && isOpen(existing, binding)) return pendingOf(deps, user, existing.secret);
  const secret = new Secret({ size: 20 }).base32;
  const fields = { secret: deps.sealer.seal(secret), binding, lastStep: null, createdAt: new Date() };
  if (existing) {
    // Never over a secret confirmed meanwhile.
    const [replaced] = await ctx.models.TotpFactor.update(fields, {
      where: { userId: user.id, confirmedAt: null },
      transaction: ctx.tx,
    });
    if (replaced === 1) return pendingOf(deps, user, fields.secret);
  }
  try {
    await ctx.models.TotpFactor.create({ userId: user.id, confirmedAt: null, ...fields }, { transaction: ctx.tx });
  } catch (error) {
    // Gone from the update above: swept meanwhile (sweepTotpEnrolments) is started afresh, confirmed is kept.
    if (existing && error instanceof UniqueConstraintError) throw new FactorAlreadyEnrolledError();
    throw error;
  }
  return pendingOf(deps, user, fields.secret);
}

/**
 * The enrolment open for `binding`, as beginTotpEnrolment shows it again, or null when there is none (never
 * started there, confirmed, or past ENROLMENT_MINUTES). It writes nothing: a page drawn for a GET (a reload,
 * a link prefetcher) shows the key a post started, and starts none.
 */
export async function openTotpEnrolment(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  binding: Binding,
): Promise<PendingEnrolment | null> {
  const existing = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
  return existing && isOpen(existing, binding) ? pendingOf(deps, user, existing.secret) : null;
}

export function pendingOf(deps: TotpDeps, user: User, sealed: string): PendingEnrolment {
  const secret = deps.sealer.open(sealed);
  return { secret, uri: totpOf(deps, user, secret).toString() };
}

// What people type between the digits: spaces (as apps show "019 214"), dashes of any width, dots.
const SEPARATORS = /[\s.\-\u2010-\u2015\u2212]/g;

/** The six digits of a code as typed, separators dropped, or null when it is not six digits at all. */
export function sixDigitsOf(code: string): string | null {
  const token = code.replace(SEPARATORS, '');
  return /^\d{6}$/.test(token) ? token : null;
}

/** The time step a code belongs to, or null when it matches none of the current step and its neighbours. */
function stepOf(totp: TOTP, code: string, now: number): number | null {
  const token = sixDigitsOf(code);
  if (token === null) return null;
  const delta = totp.validate({ token, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 1000 / PERIOD) + delta;
}

/** The time step of a code from the sealed secret, or null when it is not one of its current codes. */
export function codeStep(deps: TotpDeps, user: User, sealed: string, code: string): number | null {
  return stepOf(totpOf(deps, user, deps.sealer.open(sealed)), code, Date.now());
}

/**
 * How a code fared: accepted; `just_used`, one of the app's right codes whose step was already accepted
 * (another tab a moment ago, or a replay), refused all the same; `not_six_digits`, no code at all; `wrong`.
 */
export type TotpCodeOutcome = 'accepted' | 'just_used' | 'not_six_digits' | 'wrong';

/**
 * Accepts a code once: the step it belongs to must be later than the last accepted one, which a single
 * conditional update records, so a replay (or a race of two submissions) is refused. A code confirming
 * an enrolment counts only for the secret it was checked against, still pending under `binding`.
 */
async function acceptCode(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  code: string,
  enrolment: { binding: Binding } | null,
): Promise<TotpCodeOutcome> {
  if (sixDigitsOf(code) === null) return 'not_six_digits';
  const factor = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
  if (!factor || (factor.confirmedAt === null) !== (enrolment !== null)) return 'wrong';
  const step = stepOf(totpOf(deps, user, deps.sealer.open(factor.secret)), code, Date.now());
  if (step === null) return 'wrong';
  const [changed] = await ctx.models.TotpFactor.update(
    { lastStep: step, ...(enrolment ? { confirmedAt: new Date(), binding: null } : {}) },
    {
      where: {
        userId: user.id,
        [Op.or]: [{ lastStep: null }, { lastStep: { [Op.lt]: step } }],
        ...(enrolment ? { confirmedAt: null, binding: enrolment.binding, secret: factor.secret } : {}),
      },
      transaction: ctx.tx,
    },
  );
  if (changed === 1) return 'accepted';
  if (enrolment) return 'wrong';
  // Read again: a submission racing this one may have taken the step since the first read.
  const now = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
  return now && now.secret === factor.secret && now.lastStep !== null && now.lastStep >= step ? 'just_used' : 'wrong';
}

/**
 * Confirms the enrolment pending under `binding` with one code and returns the ten recovery codes, shown
 * this once, for a first factor or a person with none left; none (an empty list) when the person already
 * has another factor and unused recovery codes, which stay as they were (the passkey's way too:
 * passkeys/registration.ts). An enrolment started elsewhere, or more than ENROLMENT_MINUTES ago, is not
 * open here.
 */
export async function confirmTotpEnrolment(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  code: string,
  binding: Binding,
): Promise<string[]> {
  const asPerson = {
    ...ctx,
    actor: { kind: 'user' as const, id: user.id, name: user.username, roles: user.roles, unitPaths: [] },
  };
  try {
    return await inTransaction(asPerson, async (ctx) => {
      const existing = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
      if (existing?.confirmedAt) throw new FactorAlreadyEnrolledError();
      if (!existing || !isOpen(existing, binding)) throw new EnrolmentClosedError();
      // Whether this is the person's first factor, asked before the code confirms the app as one.
      const first = !(await hasSecondFactor(ctx, user.id));
      const outcome = await acceptCode(ctx, deps, user, code, { binding });
      if (outcome === 'not_six_digits') throw new TotpCodeNotSixDigitsError();
      if (outcome !== 'accepted') throw new InvalidEnrolmentCodeError();
      // Another factor's recovery codes, kept safe since, stay valid: new ones would silently cancel them.
      const unused = await unusedRecoveryCodes(ctx, user.id);
      const keep = !first && unused > 0;
      const codes = keep ? [] : await issueRecoveryCodes(ctx, user.id);
      // How many unused codes the new ones replaced: the notice says old ones stop working only if any did.
      await audit(ctx, {
        action: 'factor.enrol',
        target: user.username,
        details: keep ? { factor: 'totp', recoveryCodesKept: true } : { factor: 'totp', replacedUnused: unused },
      });
      return codes;
    });
  } catch (error) {
    // Outside the transaction, which the refusal rolled back.
    if (
      error instanceof InvalidEnrolmentCodeError ||
      error instanceof TotpCodeNotSixDigitsError ||
      error instanceof FactorAlreadyEnrolledError ||
      error instanceof EnrolmentClosedError
    ) {
      await audit(asPerson, {
        action: 'factor.enrol',
        target: user.username,
        outcome: 'failure',
        details: { factor: 'totp', reason: error.code },
      });
    }
    throw error;
  }
}

/** Checks a sign-in code against the person's confirmed authenticator. */
export async function checkTotpCode(ctx: GatewayContext, deps: TotpDeps, user: User, code: string): Promise<boolean> {
  return (await acceptCode(ctx, deps, user, code, null)) === 'accepted';
}

/** As checkTotpCode, saying why a code was refused: a code just used or not six digits is no wrong guess. */
export function checkTotpCodeOutcome(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  code: string,
): Promise<TotpCodeOutcome> {
  return acceptCode(ctx, deps, user, code, null);
}

export async function hasConfirmedTotp(ctx: GatewayContext, userId: string): Promise<boolean> {
  return (
    (await ctx.models.TotpFactor.count({ where: { userId, confirmedAt: { [Op.ne]: null } }, transaction: ctx.tx })) > 0
  );
}
