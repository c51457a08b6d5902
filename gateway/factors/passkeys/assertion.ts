import {
  generateAuthenticationOptions,
  verifyAuthenticationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { AppError } from '../../../core/errors.ts';
import {
  AccountDisabledError,
  AccountLockedError,
  addressKey,
  NetworkRateLimitedError,
  countFailure,
  type DirectoryRefusal,
  type LoginPolicy,
} from '../../accounts/authenticate.ts';
import { audit } from '../../audit.ts';
import { saveUser } from '../../accounts/save-bookkeeping.ts';
import { DirectoryDoesNotVouchError, KeptAdministratorError } from '../../directories/errors.ts';
import type { Ending } from '../../directories/ended-at-sign-in.ts';
import type { GatewayContext } from '../../context.ts';
import type { User } from '../../models/index.ts';
import type { ChallengePurpose, Passkey } from '../../models/passkeys.ts';
import { keepChallenge, takeChallenge } from './challenges.ts';
import { PasskeyRefusedError } from './errors.ts';
import { asPerson } from './person.ts';
import { transportsOf } from './registration.ts';
import { userIdOfHandle, type PasskeyDeps } from './relying-party.ts';
import { parseAuthenticationResponse } from './response-schemas.ts';
import type { Binding } from '../binding.ts';

/** What an answered assertion proves: whose passkey it was, and whether the authenticator verified them. */
export type PasskeyProof = { user: User; passkey: Passkey; userVerified: boolean };

type AssertionPurpose = Exclude<ChallengePurpose, 'register'>;

/** The audit action each use of a passkey is logged under, beside the other ways of doing the same. */
const ACTION: Record<AssertionPurpose, string> = {
  'second-factor': 'login.second_factor',
  passwordless: 'login',
  confirm: 'account.confirm',
};

/**
 * Options for the browser to use a passkey. For a known person (second factor, confirming it is them)
 * only their own passkeys are offered; for a sign-in without a password the browser offers any passkey
 * it holds for this site, and the authenticator must verify its owner (PIN or biometrics).
 */
export async function beginPasskeyAssertion(
  ctx: GatewayContext,
  deps: PasskeyDeps,
  binding: Binding,
  purpose: AssertionPurpose,
  user: User | null,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const passkeys = user ? await ctx.models.Passkey.findAll({ where: { userId: user.id }, transaction: ctx.tx }) : [];
  const options = await generateAuthenticationOptions({
    rpID: deps.rpId,
    timeout: deps.challengeTtlSeconds * 1000,
    allowCredentials: passkeys.map((p) => ({ id: p.credentialId, transports: transportsOf(p) })),
    userVerification: purpose === 'second-factor' ? 'preferred' : 'required',
  });
  await keepChallenge(ctx, deps, binding, purpose, options.challenge, user?.id ?? null);
  return options;
}

export type AssertionInput = {
  binding: Binding;
  purpose: AssertionPurpose;
  /** The person who must own the passkey (second factor, confirmation); null for a sign-in without a password. */
  expectedUserId: string | null;
  response: unknown;
};

/**
 * Checks the browser's answer to the pending challenge: the challenge is taken once, the passkey must be
 * registered (and the expected person's, when one is expected), its owner active, the signature good and
 * its counter moving forward. Failures count toward the owner's lockout like wrong codes, and every
 * outcome is audited; a counter that went backwards (a cloned key) is audited apart. The lockout itself
 * does not stop a passkey: it is there against guessing, and nobody guesses a signature over a fresh
 * challenge for this site, so it would only keep the person out for whoever caused it (anyone who typed
 * wrong passwords for their name). A sign-in without a password also needs a directory person's
 * directory to still have them.
 */
export async function verifyPasskeyAssertion(
  ctx: GatewayContext,
  deps: PasskeyDeps,
  policy: LoginPolicy,
  input: AssertionInput,
): Promise<PasskeyProof> {
  const action = ACTION[input.purpose];
  const expected = input.expectedUserId
    ? await ctx.models.User.findByPk(input.expectedUserId, { transaction: ctx.tx })
    : null;
  const fail = async (error: AppError, reason: string, target: User | null, details: Record<string, unknown> = {}) => {
    const who = target ?? expected;
    await audit(who ? asPerson(ctx, who) : ctx, {
      action,
      target: who?.username ?? null,
      outcome: 'failure',
      details: { method: 'passkey', reason, ...details },
    });
    return error;
  };
  const refuse = async (target: User, reason: string, details: Record<string, unknown> = {}) => {
    const locked = await countFailure(ctx, target, policy);
    return fail(
      locked ? new AccountLockedError(policy.lockoutMinutes * 60) : new PasskeyRefusedError(),
      reason,
      target,
      details,
    );
  };

  // Before anything is spent: garbage changes nothing, not even the pending challenge.
  let response: AuthenticationResponseJSON;
  try {
    response = parseAuthenticationResponse(input.response);
  } catch (error) {
    throw await fail(error as AppError, 'malformed_response', null);
  }
  if (input.expectedUserId && (!expected || expected.status !== 'active'))
    throw await fail(new AccountDisabledError(), 'disabled', null);
  if (!input.expectedUserId) {
    // A sign-in without a password is a guess like any other: the per-address limit applies first.
    const byIp = await policy.ipLimiter.hit(addressKey(ctx));
    if (!byIp.allowed) throw await fail(new NetworkRateLimitedError(byIp.retryAfterSeconds), 'ip_rate_limited', null);
  }

  let pending: { challenge: string; userId: string | null };
  try {
    pending = await takeChallenge(ctx, input.binding, input.purpose);
  } catch (error) {
    throw await fail(error as AppError, 'challenge', null);
  }
  if (pending.userId !== input.expectedUserId)
    throw await fail(new PasskeyRefusedError(), 'challenge_of_someone_else', null);

  const passkey = await ctx.models.Passkey.findOne({ where: { credentialId: response.id }, transaction: ctx.tx });
  if (!passkey) {
    if (expected) throw await refuse(expected, 'unknown_passkey');
    throw await fail(new PasskeyRefusedError(), 'unknown_passkey', null);
  }
  const owner = await ctx.models.User.findByPk(passkey.userId, { transaction: ctx.tx });
  if (expected && passkey.userId !== expected.id) {
    throw await refuse(expected, 'passkey_of_someone_else', { owner: owner?.username ?? null });
  }
  if (!owner || owner.status !== 'active') throw await fail(new AccountDisabledError(), 'disabled', owner);
  // The authenticator names the account it holds the key for; it must be the key's owner here.
  if (response.response.userHandle && userIdOfHandle(response.response.userHandle) !== owner.id)
    throw await refuse(owner, 'user_handle_mismatch');

  const check = (counter: number) =>
    verifyAuthenticationResponse({
      response,
      expectedChallenge: pending.challenge,
      expectedOrigin: deps.origin,
      expectedRPID: deps.rpId,
      credential: {
        id: passkey.credentialId,
        publicKey: isoBase64URL.toBuffer(passkey.publicKey),
        counter,
        transports: transportsOf(passkey),
      },
      requireUserVerification: input.purpose !== 'second-factor',
    }).catch(() => null);
  const result = await check(passkey.counter);
  if (!result?.verified) {
    // The library refuses a counter that did not move forward before it checks the signature: a good
    // signature with the counter ignored means a copy of the key was used (RP guidance: a clone).
    if (passkey.counter > 0 && (await check(0))?.verified) {
      await audit(asPerson(ctx, owner), {
        action: 'passkey.counter_regression',
        target: owner.username,
        outcome: 'failure',
        details: { passkey: passkey.id, name: passkey.name, stored: passkey.counter },
      });
      throw await refuse(owner, 'counter_regression', { passkey: passkey.id });
    }
    throw await refuse(owner, 'not_verified', { passkey: passkey.id });
  }

  const { newCounter, userVerified } = result.authenticationInfo;
  // Conditional on the counter read above, so that two uses racing with one answer cannot both pass.
  const [changed] = await ctx.models.Passkey.update(
    { counter: newCounter, lastUsedAt: new Date() },
    { where: { id: passkey.id, counter: passkey.counter }, transaction: ctx.tx },
  );
  if (changed !== 1) throw await refuse(owner, 'counter_regression', { passkey: passkey.id });
  if (input.purpose === 'passwordless') await askTheirDirectory(ctx, policy, owner, fail);
  // A passkey that signed in was no guess: the address's allowance is of failures.
  if (!input.expectedUserId) await policy.ipLimiter.release(addressKey(ctx));
  owner.failedLogins = 0;
  if (input.purpose === 'passwordless') owner.lastLoginAt = new Date();
  await saveUser(owner, ctx.tx);
  await audit(asPerson(ctx, owner), {
    action,
    target: owner.username,
    details: { method: 'passkey', passkey: passkey.id, userVerified },
  });
  return { user: owner, passkey, userVerified };
}

type Fail = (
  error: AppError,
  reason: string,
  target: User | null,
  details?: Record<string, unknown>,
) => Promise<AppError>;

/**
 * A passkey alone signs in someone whose directory was asked nothing: it is asked now, only once the passkey
 * proved its owner, so that nobody else makes the gateway call the directory. What it refuses is told in
 * the words a disabled account gets when it disabled them (the last administrator, kept enabled, is told
 * that, and how to get in; someone it did not vouch for without saying they are gone, that, their account
 * unchanged), and a directory that does not answer says to try again, as for a password; none counts
 * toward the lockout, since no answer was wrong.
 */
async function askTheirDirectory(ctx: GatewayContext, policy: LoginPolicy, owner: User, fail: Fail): Promise<void> {
  if (!policy.directoryStanding) return;
  let refusal: DirectoryRefusal | null;
  try {
    refusal = await policy.directoryStanding(ctx, owner);
  } catch (error) {
    if (error instanceof AppError) throw await fail(error, error.code, owner);
    throw error;
  }
  if (refusal && 'kept' in refusal)
    throw await fail(new KeptAdministratorError(refusal.said), 'kept_last_administrator', owner, refusal);
  if (refusal && isEnding(refusal.said)) throw await fail(new AccountDisabledError(), 'disabled', owner, refusal);
  if (refusal) throw await fail(new DirectoryDoesNotVouchError(), 'directory_does_not_vouch', owner, refusal);
}

/** Whether the directory said for certain that the person is gone or disabled there: then they are disabled here. */
function isEnding(said: string): said is Ending {
  return (
    said === 'gone from the directory' || said === 'disabled in the directory' || said === 'expired in the directory'
  );
}
