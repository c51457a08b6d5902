import type { GatewayContext } from '../context.ts';
import { findDomainByUrl } from '../domains/domains.ts';

const DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and username',
  email: 'See your email address',
  atrium: 'See your roles, units and chat domains',
  offline_access: 'Stay signed in while you are away (offline access), until you sign out or revoke it',
  'atrium:admin':
    'Act as an administrator of Atrium for you: register, change, disable and delete apps with your administrator rights',
};

/** Plain-language lines for the consent page. */
export function describeScopes(scopes: string[]): { scope: string; text: string }[] {
  return scopes.map((scope) => ({ scope, text: DESCRIPTIONS[scope] ?? scope }));
}

/**
 * What a token for each domain node lets the app do, named by the node's domain rather than its URL; only
 * the nodes the app may reach for this person (`reachable` names, null for any), since the gateway refuses
 * tokens for the others whatever is allowed here.
 */
export async function describeResources(
  ctx: GatewayContext,
  indicators: string[],
  reachable: Set<string> | null,
): Promise<string[]> {
  const domains = await Promise.all(indicators.map((url) => findDomainByUrl(ctx, url)));
  return domains
    .filter((domain) => domain && (!reachable || reachable.has(domain.name)))
    .map((domain) => `Read your chats and send messages as you on ${domain!.name}`);
}
