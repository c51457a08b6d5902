import { ForbiddenError } from '../../core/errors.ts';
import { audit } from '../audit.ts';
import type { Actor, GatewayContext } from '../context.ts';
import { ROLES, type Role } from '../models/index.ts';
import { accessEndedSince } from './end-access.ts';
import { administeredUnitPathsOf } from './memberships.ts';
import { canAdminister } from './scope.ts';

type ConsoleUser = Extract<Actor, { kind: 'user' }>;

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/**
 * The actor an ID token describes, for admission to judge and to audit; only roles the gateway knows
 * survive, whatever the token says. It carries no units: admission and every request after it judge the
 * actor as the database describes them, by the units they administer (reloadConsoleActor).
 */
export function actorFromClaims(claims: Record<string, unknown>): ConsoleUser {
  return {
    kind: 'user',
    id: String(claims.sub),
    name: typeof claims.preferred_username === 'string' ? claims.preferred_username : String(claims.sub),
    roles: strings(claims.roles).filter((r): r is Role => (ROLES as readonly string[]).includes(r)),
    unitPaths: [],
  };
}

/**
 * Lets an administrator or unit admin into the console, as the database describes them now (a unit admin
 * by the units they administer, which the token's units do not tell: a directory person may belong to
 * units they do not administer); anyone else is refused, and both outcomes are audited.
 */
export async function admitToConsole(ctx: GatewayContext, actor: ConsoleUser): Promise<ConsoleUser> {
  const asActor = { ...ctx, actor };
  const current = await reloadConsoleActor(ctx, actor.id);
  if (!current) {
    // A directory's unit admin gets their units at its next sync: until then they have the role but nothing to run.
    const user = await ctx.models.User.findByPk(actor.id, { transaction: ctx.tx });
    const unitAdmin = user?.status === 'active' && user.roles.includes('unit-admin');
    await audit(asActor, {
      action: 'console.sign_in',
      target: actor.name,
      outcome: 'failure',
      details: { reason: unitAdmin ? 'administers_no_unit' : 'not_an_administrator', roles: actor.roles },
    });
    throw new ForbiddenError(
      unitAdmin
        ? 'The admin console is only for administrators and unit administrators. Your account is a unit administrator but administers no unit yet.'
        : 'The admin console is only for administrators and unit administrators. Your account does not have either role.',
    );
  }
  await audit(asActor, { action: 'console.sign_in', target: actor.name });
  return current;
}

/**
 * The signed-in administrator as the database describes them now, or null once the account is gone,
 * disabled or no longer an administrator, or their access was ended (password reset, sign out
 * everywhere) after `signedInAt` (epoch ms): a console session must not outlive any of those.
 */
export async function reloadConsoleActor(
  ctx: GatewayContext,
  id: string,
  signedInAt?: number,
): Promise<ConsoleUser | null> {
  const user = await ctx.models.User.findByPk(id, { transaction: ctx.tx });
  if (!user || user.status !== 'active') return null;
  if (signedInAt !== undefined && accessEndedSince(user, signedInAt)) return null;
  const actor: ConsoleUser = {
    kind: 'user',
    id: user.id,
    name: user.username,
    roles: user.roles,
    unitPaths: await administeredUnitPathsOf(ctx, user),
  };
  return canAdminister(actor) ? actor : null;
}
