import { audit } from '../audit.ts';
import type { GatewayContext } from '../context.ts';
import { asPerson } from '../factors/passkeys/person.ts';
import type { User } from '../models/index.ts';
import { inTransaction } from '../transaction.ts';
import { endAccessOf } from './end-access.ts';

/**
 * "Sign out everywhere" by the person themselves (a lost laptop): what an administrator's does
 * (signOutEverywhere), every session, grant, refresh token and chat socket of theirs ends, the one asking
 * included, without the check that the actor may manage the person. Audited under the same action, with
 * the person as its actor.
 */
export async function signOutOwnSessions(ctx: GatewayContext, user: User): Promise<{ artefacts: number }> {
  return inTransaction(asPerson(ctx, user), async (ctx) => {
    const fresh = (await ctx.models.User.findByPk(user.id, { transaction: ctx.tx })) ?? user;
    const { artefacts } = await endAccessOf(ctx, fresh);
    await audit(ctx, { action: 'user.sign_out_everywhere', target: fresh.username, details: { artefacts, own: true } });
    return { artefacts };
  });
}
