import { randomUUID } from 'node:crypto';
import {
  generateRegistrationOptions,
  verifyRegistrationResponse,
  type PublicKeyCredentialCreationOptionsJSON,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import { ValidationError } from '../../../core/errors.ts';
import { audit } from '../../audit.ts';
import type { GatewayContext } from '../../context.ts';
import type { User } from '../../models/index.ts';
import type { Passkey } from '../../models/passkeys.ts';
import { inTransaction } from '../../transaction.ts';
import { SecondFactorExistsError } from '../errors.ts';
import { issueRecoveryCodes } from '../recovery-codes.ts';
import { keepChallenge, takeChallenge } from './challenges.ts';
import { PasskeyAlreadyRegisteredError, PasskeyRefusedError } from './errors.ts';
import { passkeyNameProblem } from './passkey-name.ts';
import { asPerson } from './person.ts';
import { userHandleOf, type PasskeyDeps } from './relying-party.ts';
import { parseRegistrationResponse } from './response-schemas.ts';
import { hasSecondFactor } from './second-factor-choices.ts';
import type { Binding } from '../binding.ts';

/** Enough for a phone, a laptop and a few security keys; a cap keeps a stolen session from piling them up. */
export const MAX_PASSKEYS = 10;

// EdDSA, ES256 and RS256: what authenticators offer. Not the post-quantum ML-DSA the library adds where
// the runtime has it: Node 24 marks that experimental, and a stored key must stay verifiable.
const ALGORITHMS = [-8, -7, -257];

/** A name as typed, trimmed, under the one rule of passkey-name.ts (the page's script checks it too). */
export const passkeyNameSchema = z
  .string({ error: 'Give the passkey a name.' })
  .trim()
  .superRefine((name, check) => {
    const problem = passkeyNameProblem(name);
    if (problem) check.addIssue({ code: 'custom', message: problem });
  });

export function parsePasskeyName(input: unknown): string {
  const parsed = passkeyNameSchema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError(parsed.error.issues[0]!.message, { name: parsed.error.issues[0]!.message });
  return parsed.data;
}

/**
 * Options for the browser to create a passkey: discoverable (so it can later sign in without a name),
 * and never a second one on an authenticator that already holds one of the person's. Only for a name
 * the passkey may have: a name refused once the authenticator has made its key would leave that key
 * there, unknown here. The finish checks the name again, as it is posted.
 */
export async function beginPasskeyRegistration(
  ctx: GatewayContext,
  deps: PasskeyDeps,
  user: User,
  binding: Binding,
  name: unknown,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  parsePasskeyName(name);
  const existing = await ctx.models.Passkey.findAll({ where: { userId: user.id }, transaction: ctx.tx });
  if (existing.length >= MAX_PASSKEYS)
    throw new ValidationError(`You have ${MAX_PASSKEYS} passkeys, the most allowed. Remove one first.`);
  const options = await generateRegistrationOptions({
    rpName: deps.rpName,
    rpID: deps.rpId,
    userName: user.username,
    userID: userHandleOf(user.id),
    userDisplayName: user.displayName,
    attestationType: 'none',
    timeout: deps.challengeTtlSeconds * 1000,
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: transportsOf(p) })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    supportedAlgorithmIDs: ALGORITHMS,
  });
  await keepChallenge(ctx, deps, binding, 'register', options.challenge, user.id);
  return options;
}

export const transportsOf = (p: Passkey) => (p.transports ? (p.transports.split(',') as never[]) : undefined);

/** A passkey stored, and the recovery codes to show once when it is the person's first second factor. */
export type RegisteredPasskey = { passkey: Passkey; recoveryCodes: string[] | null };

/**
 * Verifies the browser's answer to the pending registration and stores the passkey under the name given.
 * A person's first second factor comes with ten recovery codes, as an authenticator app does: without
 * them, a lost device would leave them no way past the second step. `firstFactorOnly` (a sign-in's
 * enrolment, after a password alone) refuses a person who has a second factor by now.
 */
export async function finishPasskeyRegistration(
  ctx: GatewayContext,
  deps: PasskeyDeps,
  user: User,
  binding: Binding,
  input: { name: unknown; response: unknown; firstFactorOnly?: boolean },
): Promise<RegisteredPasskey> {
  const person = asPerson(ctx, user);
  const name = parsePasskeyName(input.name);
  const response = parseRegistrationResponse(input.response);
  const refuse = async (reason: string, error: Error = new PasskeyRefusedError()) => {
    await audit(person, { action: 'passkey.register', target: user.username, outcome: 'failure', details: { reason } });
    return error;
  };
  let pending: { challenge: string; userId: string | null };
  try {
    pending = await takeChallenge(ctx, binding, 'register');
  } catch (error) {
    throw await refuse('challenge', error as Error);
  }
  if (pending.userId !== user.id) throw await refuse('challenge_of_someone_else');
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: pending.challenge,
      expectedOrigin: deps.origin,
      expectedRPID: deps.rpId,
      requireUserVerification: false,
      supportedAlgorithmIDs: ALGORITHMS,
    });
  } catch {
    throw await refuse('invalid_response');
  }
  if (!verified.verified) throw await refuse('invalid_response');
  const { credential, credentialBackedUp } = verified.registrationInfo;
  if (credential.id.length > 512) throw await refuse('credential_id_too_long');

  try {
    return await inTransaction(person, async (ctx) => {
      if (await ctx.models.Passkey.findOne({ where: { credentialId: credential.id }, transaction: ctx.tx }))
        throw new PasskeyAlreadyRegisteredError();
      if ((await ctx.models.Passkey.count({ where: { userId: user.id }, transaction: ctx.tx })) >= MAX_PASSKEYS) {
        throw new ValidationError(`You have ${MAX_PASSKEYS} passkeys, the most allowed. Remove one first.`);
      }
      const first = !(await hasSecondFactor(ctx, user.id));
      if (input.firstFactorOnly && !first) throw new SecondFactorExistsError();
      const passkey = await ctx.models.Passkey.create(
        {
          id: randomUUID(),
          userId: user.id,
          credentialId: credential.id,
          publicKey: isoBase64URL.fromBuffer(credential.publicKey),
          counter: credential.counter,
          transports: (credential.transports ?? []).join(','),
          name,
          backedUp: credentialBackedUp,
          createdAt: new Date(),
          lastUsedAt: null,
        },
        { transaction: ctx.tx },
      );
      const recoveryCodes = first ? await issueRecoveryCodes(ctx, user.id) : null;
      await audit(ctx, {
        action: 'passkey.register',
        target: user.username,
        details: { passkey: passkey.id, name, ...(recoveryCodes ? { recoveryCodes: recoveryCodes.length } : {}) },
      });
      return { passkey, recoveryCodes };
    });
  } catch (error) {
    if (error instanceof PasskeyAlreadyRegisteredError) throw await refuse('already_registered', error);
    if (error instanceof SecondFactorExistsError) throw await refuse('second_factor_exists', error);
    throw error;
  }
}
