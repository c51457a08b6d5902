import type { Sequelize } from 'sequelize';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import { createRegistryClient, domainEntry, type RegistryClient } from '../../protocol/registry-client.ts';
import type { NodeConfig } from '../config.ts';
import type { MemberCache } from '../conversations/member-cache.ts';
import type { NodeModels } from '../models.ts';
import { advanceSequences } from '../messages/group-commit.ts';
import { createOutgoingDelivery, type OutgoingDelivery } from './delivery.ts';
import { createHomeCalls, type HomeCalls } from './home-calls.ts';
import { numberPastCopies } from './highest-seqs.ts';
import { cachedSigningKey, createNodeKeys, type NodeKeys } from './keys.ts';
import type { FederationModels } from './models.ts';
import { ensureNodeKey } from './node-keys.ts';
import { createOutbox, type Outbox } from './outbox.ts';
import { createFederationPolicy, type FederationPolicy } from './policy.ts';
import { createFederatedPresence, type FederatedPresence } from './presence.ts';
import type { EntryEvent } from './withhold.ts';
import { createTransport, type Transport } from './transport.ts';
import { callingNoOneWhileRemoved } from './while-removed.ts';

/**
 * What a domain node does towards other domains (docs/federation.md), as the parts that use-cases take
 * one at a time: each names the one it needs.
 */
export type Federation = {
  /** Who may talk to whom: the gateway's registry and policy. */
  policy: FederationPolicy;
  /** What goes to other domains through the durable outbox. */
  delivery: OutgoingDelivery;
  /** What is asked of another domain's node directly: submissions to a home, its files and card clicks, typing. */
  home: HomeCalls;
  /** The node's own signing keys and their rotation. */
  keys: NodeKeys;
  /** Presence of other domains' people, and telling other domains of ours (node/federation/presence.ts). */
  presence: FederatedPresence;
  /**
   * Whether this domain is removed at the gateway now (domain-standing.ts): meanwhile the node takes no
   * federation request and calls no other domain, and its outbox holds what waits (while-removed.ts).
   */
  removed(): boolean;
};

/**
 * The federation of a node, with what its composition root drives: the outbox to start and stop, the
 * transport of its direct calls (which calls no one while the domain is removed).
 */
export type FederationWiring = { federation: Federation; outbox: Outbox; transport: Transport };

/**
 * Wires the node's federation: its keys (one created at first start), the registry from the gateway, the
 * signed transport, the outbox towards other domains, and the parts built on them.
 */
export async function createFederation(options: {
  config: NodeConfig;
  sequelize: Sequelize;
  models: NodeModels;
  federationModels: FederationModels;
  members: MemberCache;
  sealer: Sealer;
  processId: string;
  /** Where this process runs (host and port), for the outbox's leases. */
  instance: string;
  logger: Logger;
  clock: Clock;
  /** Told of people's entries another domain refused for good (node/federation/delivery-failures.ts). */
  onRefused: (destination: string, entries: EntryEvent[], refusal: { reason: string; error: string }) => Promise<void>;
  /**
   * Whether this domain is removed at the gateway now (domain-standing.ts): its outbox sends nothing
   * meanwhile, and no other call to another domain is made.
   */
  paused?: () => boolean;
}): Promise<FederationWiring> {
  const { config, federationModels, sealer, logger } = options;
  const domain = config.domain;
  const removed = options.paused ?? (() => false);
  await ensureNodeKey(federationModels, sealer);
  const signingKey = cachedSigningKey(federationModels, sealer, options.clock.now);
  const registry = createRegistryClient({
    gatewayIssuer: config.gatewayIssuer,
    origin: domain,
    signingKey,
    ttlMs: config.registryTtlMs,
    logger,
    now: options.clock.now,
  });
  const transport = createTransport({
    origin: domain,
    proxyUrl: config.federationProxyUrl,
    registry,
    signingKey,
    logger,
  });
  const outbox = createOutbox({
    sequelize: options.sequelize,
    models: federationModels,
    transport,
    processId: options.processId,
    instance: options.instance,
    logger,
    policyRetries: config.federationPolicyRetries,
    pollMs: config.federationOutboxPollMs,
    domain,
    onRefused: options.onRefused,
    // A peer holds this node's conversations further on than it does (restored from an older backup).
    onSequenceTaken: (highest) =>
      options.sequelize.transaction((tx) =>
        advanceSequences(options.sequelize, tx, highest, new Date(options.clock.now()), { forwardOnly: true }),
      ),
    removed: { registered: registeredIn(registry), graceMs: config.federationRemovedGraceMs },
    paused: removed,
    now: options.clock.now,
  });
  const direct = callingNoOneWhileRemoved(transport, removed, domain);
  const policy = createFederationPolicy({ domain, registry });
  const { remoteDomains } = policy;
  const federation: Federation = {
    policy,
    delivery: createOutgoingDelivery({
      domain,
      models: options.models,
      federationModels,
      members: options.members,
      registry,
      remoteDomains,
      outbox,
      transport: direct,
      logger,
    }),
    home: createHomeCalls({ transport: direct, remoteDomains, logger }),
    keys: createNodeKeys({
      domain,
      models: federationModels,
      sealer,
      signingKey,
      registry,
      gatewayIssuer: config.gatewayIssuer,
      logger,
    }),
    presence: createFederatedPresence({ domain, transport: direct, registry, logger, clock: options.clock }),
    removed,
  };
  // Before the node takes any send (it serves nothing yet): a node restored from an older backup numbers
  // past the copies other domains hold of its conversations, rather than have its next entries refused there.
  await numberPastCopies({
    sequelize: options.sequelize,
    domain,
    transport: direct,
    registry,
    logger,
    now: options.clock.now,
  });
  return { federation, outbox, transport: direct };
}

/**
 * Whether the gateway's registry has a domain. The copy at hand suffices to say yes; a no is asked of the
 * gateway again (at most every 5 s), and rejects when it cannot answer: a stale copy never says a domain
 * is gone.
 */
function registeredIn(registry: RegistryClient): (domain: string) => Promise<boolean> {
  return async (domain) => {
    if (domainEntry(await registry.get(), domain)) return true;
    return domainEntry(await registry.fresh(), domain) !== undefined;
  };
}
