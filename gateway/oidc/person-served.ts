import { errors } from 'oidc-provider';
import { userById } from '../accounts/find-user.ts';
import { signInRefusal } from '../apps-registry/app-access.ts';
import type { GatewayContext } from '../context.ts';

/**
 * Whether the client's app may still act for the person: their account active and them among the people
 * the app is for (its owner unit, visibility units and roles: app-access.ts). What the token endpoint
 * asks before new tokens (provider.ts, findAccount), and introspection before it calls a token active.
 */
export async function servesPerson(ctx: GatewayContext, clientId: string, accountId: string): Promise<boolean> {
  const user = await userById(ctx, accountId);
  if (user?.status !== 'active') return false;
  return (await signInRefusal(ctx, clientId, accountId)) === null;
}

/**
 * The token endpoint's refusal of tokens for a person the app may no longer serve. The app learns that
 * the person is no longer served, which introspection tells it too, but not why: whether they were
 * moved out of its units, lost a role, or had their account disabled is the campus's business about the
 * person, not the app's (a disable may be a suspension). What the app should do is the same either way,
 * and the person is told why on the gateway's page when they sign in again.
 */
export class PersonNotServedError extends errors.InvalidGrant {
  constructor(detail: string) {
    super(detail);
    this.error_description =
      'the person may no longer use this app: they are no longer among the people it is for (its owner unit, visibility units or roles) or their account is no longer active; stop acting for them, and if they come back send them to sign in, where the gateway tells them why';
  }
}
