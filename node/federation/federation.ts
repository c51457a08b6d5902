import type { Transaction } from 'sequelize';
import { gatherPerTurn } from '../../core/per-turn.ts';
import { AppError, NotFoundError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { Sealer } from '../../core/seal.ts';
import { domainOf } from '../../protocol/address.ts';
import type { MessageRecord, NodeModels } from '../models.ts';
import type { MemberCache } from '../conversations/member-cache.ts';
import type { FederationEvent, Submit } from '../../protocol/federation-events.ts';
import type { FederationModels } from './models.ts';
import { forgetRecalled } from './forget-recalled.ts';
import { pendingKey, promoteNextKey, rotateNodeKey, signingKey } from './node-keys.ts';
import { signRequest } from '../../protocol/signature.ts';
import type { CardActionResult } from '../cards/card-action.ts';
import type { Outbox } from './outbox.ts';
import { createFederatedPresence } from './presence.ts';
import { allowed, type RegistryClient } from '../../protocol/registry-client.ts';
import { errorOf, type Transport } from './transport.ts';

export class FederationDeniedError extends AppError {
  constructor(domains: string[]) {
    super('federation_denied', 403, `The federation policy does not let this domain exchange messages with ${domains.join(', ')}`);
  }
}

export type SubmitAck = { messageId: string; seq: number; at: string; duplicate: boolean };

/** What a domain node does towards other domains; see docs/federation.md. */
export type Federation = ReturnType<typeof createFederation>;

export function createFederation(options: {
  domain: string;
  models: NodeModels;
  federationModels: FederationModels;
  members: MemberCache;
  registry: RegistryClient;
  transport: Transport;
  outbox: Outbox;
  sealer: Sealer;
  gatewayIssuer: string;
  logger: Logger;
}) {
  const { domain, models, registry, transport, outbox, logger } = options;
  // A person's messages to one conversation's home go one after another, so they keep their order there.
  const submitChains = new Map<string, Promise<unknown>>();

  const computeRemoteDomains = (addresses: Iterable<string>) => [...new Set([...addresses].map(domainOf))].filter((d) => d !== domain).sort();
  // The member cache hands out the same Set for a conversation until its membership changes, and the send
  // path asks about it for every message: remember the answer per Set.
  const remoteBySet = new WeakMap<Set<string>, string[]>();
  const remoteDomains = (addresses: Iterable<string>): string[] => {
    if (!(addresses instanceof Set)) return computeRemoteDomains(addresses);
    let known = remoteBySet.get(addresses);
    if (!known) remoteBySet.set(addresses, (known = computeRemoteDomains(addresses)));
    return known;
  };

  function entryOf(message: MessageRecord): FederationEvent & { type: 'entry' } {
    return {
      type: 'entry',
      conversationId: message.conversationId,
      message: {
        id: message.id,
        seq: message.seq,
        sender: message.sender,
        clientMsgId: message.clientMsgId,
        kind: message.kind,
        body: message.body,
        refId: message.refId,
        createdAt: message.createdAt.toISOString(),
        editedAt: message.editedAt?.toISOString() ?? null,
        recalledAt: message.recalledAt?.toISOString() ?? null,
      },
    };
  }

  async function snapshot(conversationId: string, tx: Transaction) {
    const conversation = (await models.Conversation.findByPk(conversationId, { transaction: tx }))!;
    const members = await models.Member.findAll({ where: { conversationId }, transaction: tx });
    return {
      event: {
        type: 'conversation' as const,
        conversation: {
          id: conversation.id,
          kind: conversation.kind,
          homeDomain: conversation.homeDomain,
          title: conversation.title,
          members: members.map((m) => ({ address: m.address, role: m.role, state: m.state, joinedSeq: m.joinedSeq })),
        },
      },
      everyone: members.map((m) => m.address),
    };
  }

  const presence = createFederatedPresence({ domain, transport, logger });

  // Receipts shared in the same turn of the event loop (a receipt flush answers many at once) go to each
  // destination's outbox in one insert: in a big group, one row write per receipt was one commit each.
  const queueReceipt = gatherPerTurn<{ destination: string; event: FederationEvent & { type: 'receipt' } }>(async (items) => {
    const byDestination = new Map<string, FederationEvent[]>();
    for (const { destination, event } of items) byDestination.set(destination, [...(byDestination.get(destination) ?? []), event]);
    await Promise.all([...byDestination].map(([destination, events]) => outbox.enqueue(undefined, destination, events)));
    outbox.kick();
  });

  return {
    remoteDomains,
    heardFrom: outbox.heardFrom,
    /** Presence of other domains' people, and telling other domains of ours (node/federation/presence.ts). */
    presence,

    /** Refuses, before anything is stored, an exchange with a domain the policy does not allow. */
    async assertAllowed(addresses: Iterable<string>): Promise<void> {
      const others = remoteDomains(addresses);
      if (others.length === 0) return;
      let current = await registry.get().catch(() => {
        throw new AppError('federation_unavailable', 503, 'The federation registry cannot be reached now; try again');
      });
      if (others.some((d) => !allowed(current, domain, d))) current = await registry.refreshSoon();
      const denied = others.filter((d) => !allowed(current, domain, d));
      if (denied.length > 0) throw new FederationDeniedError(denied);
    },

    /**
     * For a group: every two member domains must be allowed to exchange messages, since the home relays
     * each member's messages to all the others.
     */
    async assertAllowedAmong(addresses: Iterable<string>): Promise<void> {
      const domains = [...new Set([...addresses].map(domainOf))].sort();
      if (domains.length < 2 || (domains.length === 2 && domains.includes(domain))) return this.assertAllowed(addresses);
      let current = await registry.get().catch(() => {
        throw new AppError('federation_unavailable', 503, 'The federation registry cannot be reached now; try again');
      });
      const deniedPairs = () => domains.flatMap((a, i) => domains.slice(i + 1).filter((b) => !allowed(current, a, b)).map((b) => `${a} and ${b}`));
      if (deniedPairs().length > 0) current = await registry.refreshSoon();
      const denied = deniedPairs();
      if (denied.length > 0) {
        throw new AppError('federation_denied', 403, `The federation policy does not let ${denied.join(', ')} exchange messages, so they cannot share a group`);
      }
    },

    /**
     * In the flush transaction of entries this node ordered: the entries (and, for a conversation's first
     * entry or a membership change, a snapshot of it first) go to the outbox of every other member domain.
     */
    async recordEntries(tx: Transaction, stored: MessageRecord[]): Promise<boolean> {
      // The common case — entries of cached conversations this node orders, all members at home, nothing
      // that changes membership — needs no outbox: answered without a promise per conversation.
      const allLocal = stored.every((m) => {
        const entry = options.members.peek(m.conversationId);
        return entry !== undefined && entry.home === domain && m.kind !== 'system' && m.seq !== 1 && remoteDomains(entry.members).length === 0;
      });
      if (allLocal) return false;
      const byConversation = new Map<string, MessageRecord[]>();
      for (const m of stored) {
        const list = byConversation.get(m.conversationId);
        if (list) list.push(m);
        else byConversation.set(m.conversationId, [m]);
      }
      const known = await options.members.inTransaction(tx, [...byConversation.keys()]);
      // One outbox write per destination for the whole flush; within it, each conversation's entries keep their order.
      const perDestination = new Map<string, FederationEvent[]>();
      const add = (dest: string, event: FederationEvent) => {
        const list = perDestination.get(dest);
        if (list) list.push(event);
        else perDestination.set(dest, [event]);
      };
      for (const [conversationId, entries] of byConversation) {
        if (known.get(conversationId)?.home !== domain) continue;
        let activeNow = known.get(conversationId)?.members ?? new Set<string>();
        for (const message of entries) {
          if (message.kind === 'system' || message.seq === 1) {
            // Membership may have changed in this very transaction: read it here, not from the cache.
            const { event, everyone } = await snapshot(conversationId, tx);
            for (const dest of remoteDomains(everyone)) add(dest, event);
            activeNow = new Set(event.conversation.members.filter((m) => m.state === 'active').map((m) => m.address));
          }
          const destinations = remoteDomains(activeNow);
          if (destinations.length === 0) continue;
          const event = entryOf(message);
          if ((message.kind === 'edit' || message.kind === 'recall' || message.kind === 'card.update') && message.refId) {
            const target = await models.Message.findOne({ where: { id: message.refId }, transaction: tx });
            if (target) {
              event.target = { id: target.id, body: target.body, editedAt: target.editedAt?.toISOString() ?? null, recalledAt: target.recalledAt?.toISOString() ?? null };
            }
          }
          for (const dest of destinations) add(dest, event);
        }
      }
      for (const [dest, events] of perDestination) await outbox.enqueue(tx, dest, events);
      return perDestination.size > 0;
    },

    /** A recall at the home: events not yet delivered lose the message's content (forget-recalled.ts). */
    forgetRecalled(tx: Transaction, targetId: string, recalledAt: Date): Promise<void> {
      return forgetRecalled(options.federationModels, tx, targetId, recalledAt);
    },

    /** Sends a remote member's entry to the conversation's home, which orders it; resolves with its ack. */
    submit(home: string, submit: Submit): Promise<SubmitAck> {
      const key = `${submit.conversationId}|${submit.sender}`;
      const next = (submitChains.get(key) ?? Promise.resolve()).catch(() => undefined).then(() => this.submitNow(home, submit));
      submitChains.set(key, next);
      void next.finally(() => submitChains.get(key) === next && submitChains.delete(key)).catch(() => undefined);
      return next;
    },

    async submitNow(home: string, submit: Submit): Promise<SubmitAck> {
      const response = await transport.post(home, '/federation/v1/submit', submit);
      if (response.status === 200) return response.body as unknown as SubmitAck;
      const { code, message } = errorOf(response);
      if (response.status >= 500 || response.status === 401) throw new AppError('federation_unavailable', 503, `${home} cannot take the message now (${code}); it was not sent`);
      throw new AppError(code, response.status, message);
    },

    /**
     * A file shared by someone of `home` (files stay on their uploader's node), fetched there for one of
     * this domain's people: that node checks that they are a member of the conversation it was shared in.
     */
    async fetchAttachment(home: string, attachmentId: string, forAddress: string): Promise<{ contentType: string; bytes: Uint8Array }> {
      const response = await transport.postForFile(home, `/federation/v1/attachments/${attachmentId}`, { for: forAddress });
      if (response.status === 200) return response;
      const { code, message } = errorOf({ status: response.status, body: response.body });
      if (response.status === 404) throw new NotFoundError('No such attachment');
      if (response.status >= 500 || response.status === 401) throw new AppError('federation_unavailable', 503, `${home} cannot serve the file now (${code})`);
      throw new AppError(code, response.status, message);
    },

    /** A person of this domain clicked a card in a conversation hosted at `home`: the home sends it to the app. */
    async cardActionAtHome(home: string, click: { messageId: string; actionId: string; user: { address: string; name: string } }): Promise<CardActionResult> {
      const response = await transport.post(home, '/federation/v1/card-action', click, 20_000);
      if (response.status === 200) return response.body as unknown as CardActionResult;
      const { code, message } = errorOf(response);
      if (response.status >= 500 || response.status === 401) throw new AppError('federation_unavailable', 503, `${home} cannot take the click now (${code})`);
      throw new AppError(code, response.status, message);
    },

    /** Receipts go to every other member domain, through the outbox (written together: see queueReceipt). */
    async shareReceipt(receipt: { conversationId: string; address: string; readSeq: number; deliveredSeq: number }): Promise<void> {
      const active = (await options.members.of([receipt.conversationId])).get(receipt.conversationId) ?? new Set();
      await Promise.all(remoteDomains(active).map((destination) => queueReceipt({ destination, event: { type: 'receipt', ...receipt } })));
    },

    /**
     * Tells every domain the policy lets this one talk with that it is up (a signed hello, through the proxy
     * like the rest): what they queued for it while it was away goes at once rather than after their backoff.
     */
    async announce(): Promise<void> {
      const current = await registry.get();
      const peers = current.domains.map((d) => d.name).filter((d) => d !== domain && allowed(current, domain, d));
      await Promise.all(
        peers.map(async (peer) => {
          const response = await transport.post(peer, '/federation/v1/hello', {}, 5_000).catch((err: unknown) => ({ status: 0, body: { error: { code: 'unreachable', message: (err as Error).message } } }));
          if (response.status !== 202) logger.debug({ peer, error: errorOf(response) }, 'hello not taken (the peer is away too, or refuses)');
        }),
      );
    },

    /** Typing crosses best-effort: one attempt, no outbox. */
    shareTyping(conversationId: string, address: string, addresses: Iterable<string>): void {
      for (const dest of remoteDomains(addresses)) {
        transport.post(dest, '/federation/v1/typing', { conversationId, address }, 3_000).catch((err: unknown) => logger.debug({ err, dest }, 'typing not relayed'));
      }
    },

    keysDocumentSigner: () => signingKey(options.federationModels, options.sealer),
    /**
     * Rotates the node's signing key without a moment in which peers would meet an unpinned key: the new
     * key is published first, the gateway is asked to pin it (the current key vouches for it), and only
     * then does it start signing. If the gateway cannot be reached the key waits as `next` and
     * completeRotation() tries again later.
     */
    async rotateKey() {
      const next = await rotateNodeKey(options.federationModels, options.sealer);
      await this.completeRotation();
      return next;
    },

    /** Finishes a pending rotation: re-pin at the gateway, then sign with the new key. True when done. */
    async completeRotation(): Promise<boolean> {
      if (!(await pendingKey(options.federationModels))) return false;
      const path = '/federation/v1/repin';
      const headers = signRequest(await signingKey(options.federationModels, options.sealer), { method: 'POST', path, origin: domain, destination: 'gateway', body: '' });
      try {
        const response = await fetch(`${options.gatewayIssuer}${path}`, { method: 'POST', headers, signal: AbortSignal.timeout(5_000) });
        if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
      } catch (error) {
        logger.warn({ err: error }, 'the gateway has not pinned the new key yet; still signing with the current one');
        return false;
      }
      await promoteNextKey(options.federationModels);
      await registry.refreshSoon().catch(() => undefined);
      logger.info('signing with the new key');
      return true;
    },
    outbox,
    registry,
  };
}

