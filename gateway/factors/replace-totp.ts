import { createHash } from 'node:crypto';
import { Op } from 'sequelize';
import { Secret } from 'otpauth';
import { AppError, NotFoundError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import type { TotpFactor } from '../models/factors.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import type { Binding } from './binding.ts';
import { InvalidReplacementCodeError, ReplacementClosedError } from './errors.ts';
import { holdPerson } from './last-factor.ts';
import { asPerson } from './passkeys/person.ts';
import { codeStep, ENROLMENT_MINUTES, pendingOf, type PendingEnrolment, type TotpDeps } from './totp.ts';

/** A replacement's new key as the page shows it, and `ref`, which names it in the page's form. */
export type PendingReplacement = PendingEnrolment & { ref: string };

const noApp = () => new NotFoundError('No authenticator app is set up for your account.');

/**
 * Names the new key a page was drawn with: a form from a tab that was shown another key (one started again
 * since) is refused as such, rather than its code checked against a key that tab never showed.
 */
const refOf = (sealed: string) => createHash('sha256').update(sealed).digest('base64url').slice(0, 22);

const isOpen = (factor: TotpFactor, binding: Binding, now = Date.now()) =>
  factor.confirmedAt !== null &&
  factor.replacementSecret !== null &&
  factor.replacementBinding === binding &&
  (factor.replacementStartedAt?.getTime() ?? 0) > now - ENROLMENT_MINUTES * 60_000;

const shown = (deps: TotpDeps, user: User, sealed: string): PendingReplacement => ({
  ...pendingOf(deps, user, sealed),
  ref: refOf(sealed),
});

/**
 * Starts replacing the person's authenticator app (a new phone, the old one lost) for `binding` (the portal
 * session it is shown to), or shows again the replacement it started less than ENROLMENT_MINUTES ago. The
 * new secret waits beside the confirmed one, which goes on working until confirmTotpReplacement: nothing
 * is taken away before the new phone is proven, so a person never ends up without their factor. Another
 * session's pending replacement is dropped, so a key seen on another screen is never the one that counts.
 */
export async function beginTotpReplacement(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  binding: Binding,
): Promise<PendingReplacement> {
  const factor = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
  if (!factor?.confirmedAt) throw noApp();
  if (isOpen(factor, binding)) return shown(deps, user, factor.replacementSecret!);
  const sealed = deps.sealer.seal(new Secret({ size: 20 }).base32);
  const [changed] = await ctx.models.TotpFactor.update(
    { replacementSecret: sealed, replacementBinding: binding, replacementStartedAt: new Date() },
    { where: { userId: user.id, confirmedAt: { [Op.ne]: null } }, transaction: ctx.tx },
  );
  // Removed or reset meanwhile.
  if (changed !== 1) throw noApp();
  return shown(deps, user, sealed);
}

/** The replacement open for `binding`, or null; it writes nothing (a page drawn for a GET). */
export async function openTotpReplacement(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  binding: Binding,
): Promise<PendingReplacement | null> {
  const factor = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
  return factor && isOpen(factor, binding) ? shown(deps, user, factor.replacementSecret!) : null;
}

/**
 * Confirms the replacement open for `binding` (the one the form named by `ref`) with a code from the new
 * phone: in one update the new secret takes the old one's place, so the old phone's codes stop at once.
 * A wrong code, a replacement closed or started again elsewhere, change nothing. The recovery codes stay
 * as they are: the person who used one to get here keeps the rest.
 */
export async function confirmTotpReplacement(
  ctx: GatewayContext,
  deps: TotpDeps,
  user: User,
  input: { code: string; ref: string },
  binding: Binding,
): Promise<void> {
  const person = asPerson(ctx, user);
  try {
    await inTransaction(person, async (ctx) => {
      await holdPerson(ctx, user);
      const factor = await ctx.models.TotpFactor.findByPk(user.id, { transaction: ctx.tx });
      if (!factor?.confirmedAt) throw noApp();
      const sealed = factor.replacementSecret;
      if (!sealed || !isOpen(factor, binding) || refOf(sealed) !== input.ref) throw new ReplacementClosedError();
      const step = codeStep(deps, user, sealed, input.code);
      if (step === null) throw new InvalidReplacementCodeError();
      const [changed] = await ctx.models.TotpFactor.update(
        {
          secret: sealed,
          lastStep: step,
          confirmedAt: new Date(),
          replacementSecret: null,
          replacementBinding: null,
          replacementStartedAt: null,
        },
        { where: { userId: user.id, replacementSecret: sealed, replacementBinding: binding }, transaction: ctx.tx },
      );
      if (changed !== 1) throw new ReplacementClosedError();
      await audit(ctx, { action: 'factor.replace', target: user.username, details: { factor: 'totp' } });
    });
  } catch (error) {
    // Outside the transaction, which the refusal rolled back.
    if (error instanceof AppError)
      await audit(person, {
        action: 'factor.replace',
        target: user.username,
        outcome: 'failure',
        details: { factor: 'totp', reason: error.code },
      });
    throw error;
  }
}
