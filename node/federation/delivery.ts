import type { Transaction } from 'sequelize';
import { gatherPerTurn } from '../../core/per-turn.ts';
import type { Logger } from '../../core/logger.ts';
import { allowed, type RegistryClient } from '../../protocol/registry-client.ts';
import type { MessageRecord, NodeModels } from '../models.ts';
import type { MemberCache } from '../conversations/member-cache.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import type { FederationModels } from './models.ts';
import { forgetRecalled } from './forget-recalled.ts';
import type { Outbox } from './outbox.ts';
import { errorOf, type Transport } from './transport.ts';
import { CHANGES } from './relay-checks.ts';

type EntryEvent = FederationEvent & { type: 'entry' };
type ConversationEvent = FederationEvent & { type: 'conversation' };

/** What this node sends to other domains through its durable outbox, and how it keeps that flowing. */
export interface OutgoingDelivery {
  /**
   * In the flush transaction of entries this node ordered: the entries (and, for a conversation's first
   * entry or a membership change, a snapshot of it first) go to the outbox of every other member domain.
   * True when anything was queued (then kick the outbox after the commit).
   */
  recordEntries(tx: Transaction, stored: MessageRecord[]): Promise<boolean>;
  /**
   * Whether recordEntries would write nothing for entries about to be stored: each in a cached
   * conversation this node orders, every member at home, none a system entry (a membership change).
   */
  nothingToRecord(entries: { conversationId: string; kind: string }[]): boolean;
  /** A recall at the home: events not yet delivered lose the message's content (forget-recalled.ts). */
  forgetRecalled(tx: Transaction, targetId: string, recalledAt: Date): Promise<void>;
  /** Receipts go to every other member domain, through the outbox (those of one turn written together). */
  shareReceipt(receipt: {
    conversationId: string;
    address: string;
    readSeq: number;
    deliveredSeq: number;
  }): Promise<void>;
  /**
   * One of this domain's people moved to another domain: the home of a group they are in is told, through
   * the outbox (so a home that is away hears it when it is back), and puts their new address in their place.
   */
  tellMoved(home: string, move: { from: string; to: string }): Promise<void>;
  /** A signed request from `domain` arrived: what waits for it goes now rather than after its backoff. */
  heardFrom(domain: string): Promise<void>;
  /**
   * Tells every domain the policy lets this one talk with that it is up (a signed hello, through the proxy
   * like the rest): what they queued for it while it was away goes at once rather than after their backoff.
   */
  announce(): Promise<void>;
}

function entryOf(message: MessageRecord): EntryEvent {
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

async function snapshot(
  models: NodeModels,
  conversationId: string,
  tx: Transaction,
): Promise<{ event: ConversationEvent; everyone: string[] }> {
  const conversation = (await models.Conversation.findByPk(conversationId, { transaction: tx }))!;
  const members = await models.Member.findAll({ where: { conversationId }, transaction: tx });
  return {
    event: {
      type: 'conversation',
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

/** An edit, recall, file removal or card update carries its target as it is now, so the other side need not hold it. */
async function withTarget(models: NodeModels, message: MessageRecord, tx: Transaction): Promise<EntryEvent> {
  const event = entryOf(message);
  if (CHANGES.has(message.kind) && message.refId) {
    const target = await models.Message.findOne({ where: { id: message.refId }, transaction: tx });
    if (target) {
      event.target = {
        id: target.id,
        body: target.body,
        editedAt: target.editedAt?.toISOString() ?? null,
        recalledAt: target.recalledAt?.toISOString() ?? null,
      };
    }
  }
  return event;
}

function byConversation(stored: MessageRecord[]): Map<string, MessageRecord[]> {
  const grouped = new Map<string, MessageRecord[]>();
  for (const m of stored) {
    const list = grouped.get(m.conversationId);
    if (list) list.push(m);
    else grouped.set(m.conversationId, [m]);
  }
  return grouped;
}

/** Events per destination, each destination's in the order they were added. */
class PerDestination extends Map<string, FederationEvent[]> {
  add(destination: string, event: FederationEvent): void {
    const list = this.get(destination);
    if (list) list.push(event);
    else this.set(destination, [event]);
  }
}

export function createOutgoingDelivery(options: {
  domain: string;
  models: NodeModels;
  federationModels: FederationModels;
  members: MemberCache;
  registry: RegistryClient;
  remoteDomains: (addresses: Iterable<string>) => string[];
  outbox: Outbox;
  transport: Pick<Transport, 'post'>;
  logger: Logger;
}): OutgoingDelivery {
  const { domain, models, members, registry, remoteDomains, outbox, transport, logger } = options;

  // Receipts shared in the same turn of the event loop (a receipt flush answers many at once) go to each
  // destination's outbox in one insert: in a big group, one row write per receipt was one commit each.
  const queueReceipt = gatherPerTurn<{ destination: string; event: FederationEvent & { type: 'receipt' } }>(
    async (items) => {
      const perDestination = new PerDestination();
      for (const { destination, event } of items) perDestination.add(destination, event);
      await Promise.all(
        [...perDestination].map(([destination, events]) => outbox.enqueue(undefined, destination, events)),
      );
      outbox.kick();
    },
  );

  // The common case — entries of cached conversations this node orders, all members at home, nothing
  // that changes membership — needs no outbox: answered without a promise per conversation.
  const localOnly = (m: { conversationId: string; kind: string }) => {
    const entry = members.peek(m.conversationId);
    return (
      entry !== undefined && entry.home === domain && m.kind !== 'system' && remoteDomains(entry.members).length === 0
    );
  };
  const allLocal = (stored: MessageRecord[]) => stored.every((m) => m.seq !== 1 && localOnly(m));

  /** One conversation's entries, each to the member domains it reaches at its point in the order. */
  async function addConversation(
    out: PerDestination,
    conversationId: string,
    entries: MessageRecord[],
    active: Set<string>,
    tx: Transaction,
  ) {
    let activeNow = active;
    for (const message of entries) {
      if (message.kind === 'system' || message.seq === 1) {
        // Membership may have changed in this very transaction: read it here, not from the cache.
        const { event, everyone } = await snapshot(models, conversationId, tx);
        for (const dest of remoteDomains(everyone)) out.add(dest, event);
        activeNow = new Set(event.conversation.members.filter((m) => m.state === 'active').map((m) => m.address));
      }
      const destinations = remoteDomains(activeNow);
      if (destinations.length === 0) continue;
      const event = await withTarget(models, message, tx);
      for (const dest of destinations) out.add(dest, event);
    }
  }

  return {
    nothingToRecord: (entries) => entries.every(localOnly),

    async recordEntries(tx, stored) {
      if (allLocal(stored)) return false;
      const grouped = byConversation(stored);
      // Read through the flush's own transaction: see MemberCache.inTransaction.
      const known = await members.inTransaction(tx, [...grouped.keys()]);
      // One outbox write per destination for the whole flush; within it, each conversation's entries keep their order.
      const perDestination = new PerDestination();
      for (const [conversationId, entries] of grouped) {
        if (known.get(conversationId)?.home !== domain) continue;
        await addConversation(
          perDestination,
          conversationId,
          entries,
          known.get(conversationId)?.members ?? new Set<string>(),
          tx,
        );
      }
      for (const [dest, events] of perDestination) await outbox.enqueue(tx, dest, events);
      return perDestination.size > 0;
    },

    forgetRecalled(tx, targetId, recalledAt) {
      return forgetRecalled(options.federationModels, tx, targetId, recalledAt);
    },

    async shareReceipt(receipt) {
      const active = (await members.of([receipt.conversationId])).get(receipt.conversationId) ?? new Set();
      await Promise.all(
        remoteDomains(active).map((destination) =>
          queueReceipt({ destination, event: { type: 'receipt', ...receipt } }),
        ),
      );
    },

    async tellMoved(home, move) {
      await outbox.enqueue(undefined, home, [{ type: 'moved', ...move }]);
      outbox.kick();
    },

    heardFrom: (peer) => outbox.heardFrom(peer),

    async announce() {
      const current = await registry.get();
      const peers = current.domains.map((d) => d.name).filter((d) => d !== domain && allowed(current, domain, d));
      await Promise.all(
        peers.map(async (peer) => {
          const response = await transport.post(peer, '/federation/v1/hello', {}, 5_000).catch((err: unknown) => ({
            status: 0,
            body: { error: { code: 'unreachable', message: (err as Error).message } },
          }));
          if (response.status !== 202)
            logger.debug({ peer, error: errorOf(response) }, 'hello not taken (the peer is away too, or refuses)');
        }),
      );
    },
  };
}
