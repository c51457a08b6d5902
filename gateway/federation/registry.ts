import { createHash } from 'node:crypto';
import type { Registry } from '../../protocol/registry-client.ts';
import type { PublicKeyJwk } from '../../protocol/signature.ts';
import type { GatewayContext } from '../context.ts';
import { listPolicy } from './policy.ts';
import { pinnedKeysOf } from './pin-domain.ts';

/** What nodes and proxies need to route and verify: domains with URLs and pinned keys, the policy, proxies. */
export async function buildRegistry(ctx: GatewayContext): Promise<Registry> {
  const [domains, policy, proxies, serving] = await Promise.all([
    ctx.models.Domain.findAll({ order: [['name', 'ASC']] }),
    listPolicy(ctx),
    ctx.models.FederationProxy.findAll({ order: [['name', 'ASC']] }),
    ctx.models.DomainUnit.findAll({ attributes: ['domainId'] }),
  ]);
  // A domain serving none of this campus's units is a partner organization's: its pairs with other domains
  // are that organization's to decide, so nodes do not judge them by this policy.
  const served = new Set(serving.map((u) => u.domainId));
  const body = {
    domains: domains.map((d) => ({
      name: d.name,
      url: d.url,
      keys: pinnedKeysOf(d),
      ...(served.has(d.id) ? {} : { partner: true }),
    })),
    policy,
    proxies: proxies
      .filter((p) => p.publicJwk)
      .map((p) => ({ name: p.name, keys: [JSON.parse(p.publicJwk!) as PublicKeyJwk] })),
  };
  const version = createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 16);
  return { version, ...body };
}
