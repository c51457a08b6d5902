import type { GatewayContext } from '../../context.ts';
import type { User } from '../../models/index.ts';

/** The context of a person acting on their own account (the account page, their own sign-in). */
export const asPerson = (ctx: GatewayContext, user: User): GatewayContext => ({
  ...ctx,
  actor: { kind: 'user', id: user.id, name: user.username, roles: user.roles, unitPaths: [] },
});
