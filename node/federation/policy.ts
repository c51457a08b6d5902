import { AppError } from '../../core/errors.ts';
import { domainOf } from '../../protocol/address.ts';
import { isDirectId } from '../conversations/open-direct.ts';
import { allowed, type Registry, type RegistryClient } from '../../protocol/registry-client.ts';

export class FederationDeniedError extends AppError {
  /** `unregistered`: those of `domains` the gateway does not list (removed from the campus, or never on it). */
  constructor(domains: string[], unregistered: string[] = []) {
    super('federation_denied', 403, deniedWhy(domains, unregistered));
  }
}

/**
 * A domain the registry does not hold is not kept apart by the policy: it is not on the campus (any
 * more), and nothing waits for it to come back. Said so, since retrying cannot help either way.
 */
function deniedWhy(domains: string[], unregistered: string[]): string {
  const gone = domains.filter((d) => unregistered.includes(d));
  const apart = domains.filter((d) => !unregistered.includes(d));
  const said = [
    ...(gone.length > 0
      ? [
          `${gone.join(', ')} ${gone.length > 1 ? 'are' : 'is'} not a domain of this campus (removed at the gateway, or never added)`,
        ]
      : []),
    ...(apart.length > 0
      ? [`the federation policy does not let this domain exchange messages with ${apart.join(', ')}`]
      : []),
  ].join('; ');
  return `Nothing was sent: ${said}`;
}

const unregisteredOf = (registry: Registry, domains: string[]) =>
  domains.filter((d) => !registry.domains.some((entry) => entry.name === d));

/** Who may talk to whom across domains, by the gateway's registry (its pinned domains and policy). */
export interface FederationPolicy {
  /** The gateway's registry: the domains it pins, their keys, and the pairs allowed to exchange messages. */
  readonly registry: RegistryClient;
  /** The other domains (not this one) among these addresses, sorted, each once. */
  remoteDomains(addresses: Iterable<string>): string[];
  /** Refuses, before anything is stored, an exchange with a domain the policy does not allow. */
  assertAllowed(addresses: Iterable<string>): Promise<void>;
  /**
   * The other domains a message into a conversation must reach to be sent at all (see mustReach); none
   * (answered at once, without a promise) for a group this node orders.
   */
  mustReach(conversationId: string, conversation: { home: string | null; members: Set<string> }): string[];
  /** As assertAllowed, for other domains named as such (mustReach's). */
  assertAllowedDomains(domains: string[]): Promise<void>;
  /**
   * For a group: every two member domains must be allowed to exchange messages, since the home relays
   * each member's messages to all the others.
   */
  assertAllowedAmong(addresses: Iterable<string>): Promise<void>;
}

/**
 * What a message into a conversation cannot go without: the other person's domain in a direct
 * conversation, and the home's in a group another domain orders (this node submits the message there). A
 * group this node orders needs no other domain: the message is stored and goes to every member domain the
 * outbox can reach; what waits for one removed at the gateway, or whose pair the policy closed, is dealt
 * with there (set aside after the grace period, or withheld), its authors told (docs/federation.md,
 * "Delivery"). One removed college does not silence every group it has a member in.
 */
function mustReachOf(
  domain: string,
  remoteDomains: (addresses: Iterable<string>) => string[],
): FederationPolicy['mustReach'] {
  return (conversationId, { home, members }) => {
    if (isDirectId(conversationId) || home === null) return remoteDomains(members);
    return home === domain ? [] : [home];
  };
}

/** The other domains among some addresses, remembered per Set (see below). */
export function remoteDomainsOf(domain: string): (addresses: Iterable<string>) => string[] {
  const compute = (addresses: Iterable<string>) =>
    [...new Set([...addresses].map(domainOf))].filter((d) => d !== domain).sort();
  // The member cache hands out the same Set for a conversation until its membership changes, and the send
  // path asks about it for every message: remember the answer per Set.
  const bySet = new WeakMap<Set<string>, string[]>();
  return (addresses) => {
    if (!(addresses instanceof Set)) return compute(addresses);
    let known = bySet.get(addresses);
    if (!known) bySet.set(addresses, (known = compute(addresses)));
    return known;
  };
}

export function createFederationPolicy(options: { domain: string; registry: RegistryClient }): FederationPolicy {
  const { domain, registry } = options;
  const remoteDomains = remoteDomainsOf(domain);

  const current = () =>
    registry.get().catch((): Registry => {
      throw new AppError('federation_unavailable', 503, 'The federation registry cannot be reached now; try again');
    });

  async function assertAllowedDomains(others: string[]): Promise<void> {
    if (others.length === 0) return;
    let known = await current();
    if (others.some((d) => !allowed(known, domain, d))) known = await registry.refreshSoon();
    const denied = others.filter((d) => !allowed(known, domain, d));
    if (denied.length > 0) throw new FederationDeniedError(denied, unregisteredOf(known, denied));
  }
  const assertAllowed = (addresses: Iterable<string>) => assertAllowedDomains(remoteDomains(addresses));

  return {
    registry,
    remoteDomains,
    assertAllowed,
    mustReach: mustReachOf(domain, remoteDomains),
    assertAllowedDomains,
    async assertAllowedAmong(addresses) {
      const domains = [...new Set([...addresses].map(domainOf))].sort();
      if (domains.length < 2 || (domains.length === 2 && domains.includes(domain))) return assertAllowed(addresses);
      let known = await current();
      const deniedPairs = () =>
        domains.flatMap((a, i) =>
          domains
            .slice(i + 1)
            .filter((b) => !allowed(known, a, b))
            .map((b) => `${a} and ${b}`),
        );
      if (deniedPairs().length > 0) known = await registry.refreshSoon();
      const denied = deniedPairs();
      if (denied.length > 0) {
        throw new AppError(
          'federation_denied',
          403,
          `The federation policy does not let ${denied.join(', ')} exchange messages, so they cannot share a group`,
        );
      }
    },
  };
}
