import type { Transaction } from 'sequelize';
import { AppError } from '../../core/errors.ts';
import { domainOf } from '../address.ts';
import type { NodeServices } from '../context.ts';
import type { BusEvent } from '../bus/bus.ts';
import { presentMessage } from '../messages/present-message.ts';
import { serverFrame } from '../protocol/frames.ts';
import type { FederationEvent } from './events.ts';

export class SenderNotOfOriginError extends AppError {
  constructor(message: string) {
    super('sender_not_of_origin', 403, message);
  }
}

/** Refuses a transaction carrying any event its origin may not author (docs/federation.md). */
export async function checkAuthorship(services: NodeServices, origin: string, events: FederationEvent[]): Promise<void> {
  for (const event of events) {
    if (event.type === 'receipt') {
      if (domainOf(event.address) !== origin) throw new SenderNotOfOriginError(`${origin} sent a receipt for ${event.address}`);
      continue;
    }
    const conversationId = event.type === 'conversation' ? event.conversation.id : event.conversationId;
    const claimedHome = event.type === 'conversation' ? event.conversation.homeDomain : undefined;
    if (claimedHome !== undefined && claimedHome !== origin) throw new SenderNotOfOriginError(`${origin} sent a snapshot of a conversation homed at ${claimedHome}`);
    const known = await services.models.Conversation.findByPk(conversationId, { attributes: ['homeDomain'] });
    if (known && known.homeDomain !== origin) throw new SenderNotOfOriginError(`${origin} is not the home of conversation ${conversationId}`);
    if (event.type === 'entry' && !known && !events.some((e) => e.type === 'conversation' && e.conversation.id === conversationId)) {
      throw new AppError('unknown_conversation', 409, `Conversation ${conversationId} is unknown here; send its snapshot first`);
    }
  }
}

/**
 * Applies a transaction's events inside the caller's database transaction and returns what to tell local
 * devices once it commits. Entries keep the home's ids and sequence numbers; applying one twice is a no-op.
 */
export type Applied = {
  /** What to publish once the transaction commits. */
  after: BusEvent[];
  /** Conversations whose snapshot changed, with the local people to show each its own view of it. */
  announce: Map<string, string[]>;
};

export async function applyEvents(services: NodeServices, origin: string, events: FederationEvent[], tx: Transaction): Promise<Applied> {
  const { Conversation, Member, Message } = services.models;
  const after: BusEvent[] = [];
  const announce = new Map<string, string[]>();
  const local = (addresses: string[]) => addresses.filter((a) => domainOf(a) === services.domain);

  for (const event of events) {
    if (event.type === 'conversation') {
      const snap = event.conversation;
      const existing = await Conversation.findByPk(snap.id, { transaction: tx });
      if (!existing) {
        if (!snap.members.some((m) => domainOf(m.address) === services.domain)) continue;
        await Conversation.create(
          { id: snap.id, kind: snap.kind, homeDomain: origin, title: snap.title, directKey: null, createdBy: snap.members[0]?.address ?? origin },
          { transaction: tx },
        );
      } else if (existing.title !== snap.title) {
        existing.title = snap.title;
        await existing.save({ transaction: tx });
      }
      const rows = await Member.findAll({ where: { conversationId: snap.id }, transaction: tx });
      for (const m of snap.members) {
        const row = rows.find((r) => r.address === m.address);
        if (row) {
          if (row.role !== m.role || row.state !== m.state || row.joinedSeq !== m.joinedSeq) {
            await Member.update({ role: m.role, state: m.state, joinedSeq: m.joinedSeq }, { where: { conversationId: snap.id, address: m.address }, transaction: tx });
          }
        } else {
          await Member.create({ conversationId: snap.id, address: m.address, role: m.role, state: m.state, joinedSeq: m.joinedSeq }, { transaction: tx });
        }
      }
      after.push({ kind: 'membership', conversationId: snap.id });
      // Everyone of ours in the snapshot, active or not, so someone removed learns of it too.
      announce.set(snap.id, local(snap.members.map((m) => m.address)));
    } else if (event.type === 'entry') {
      const m = event.message;
      const [stored, created] = await Message.findOrCreate({
        where: { id: m.id },
        defaults: {
          conversationId: event.conversationId,
          seq: m.seq,
          id: m.id,
          sender: m.sender,
          clientMsgId: m.clientMsgId,
          kind: m.kind,
          body: m.body,
          refId: m.refId,
          createdAt: new Date(m.createdAt),
          editedAt: m.editedAt ? new Date(m.editedAt) : null,
          recalledAt: m.recalledAt ? new Date(m.recalledAt) : null,
        },
        transaction: tx,
      });
      if (!created) continue;
      await Conversation.update(
        { lastSeq: services.sequelize.literal(`CASE WHEN last_seq < ${m.seq} THEN ${m.seq} ELSE last_seq END`) as never },
        { where: { id: event.conversationId }, transaction: tx },
      );
      if (event.target) {
        await Message.update(
          { body: event.target.body, editedAt: event.target.editedAt ? new Date(event.target.editedAt) : null, recalledAt: event.target.recalledAt ? new Date(event.target.recalledAt) : null },
          { where: { id: event.target.id, conversationId: event.conversationId }, transaction: tx },
        );
      }
      const members = await Member.findAll({ where: { conversationId: event.conversationId, state: 'active' }, attributes: ['address'], transaction: tx });
      after.push({ kind: 'deliver', recipients: local(members.map((x) => x.address)), frame: serverFrame('message', { message: presentMessage(stored) }) });
    } else {
      const raise = (column: string, to: number) => services.sequelize.literal(`CASE WHEN ${column} < ${to} THEN ${to} ELSE ${column} END`);
      // The home knows where its conversation ends: a reader's node may have run ahead of its own copy.
      const conversation = await Conversation.findByPk(event.conversationId, { attributes: ['homeDomain', 'lastSeq'], transaction: tx });
      const cap = conversation?.homeDomain === services.domain ? conversation.lastSeq : Number.MAX_SAFE_INTEGER;
      const [count] = await Member.update(
        { readSeq: raise('read_seq', Math.min(event.readSeq, cap)) as never, deliveredSeq: raise('delivered_seq', Math.min(event.deliveredSeq, cap)) as never },
        { where: { conversationId: event.conversationId, address: event.address }, transaction: tx },
      );
      if (count === 0) continue;
      const members = await Member.findAll({ where: { conversationId: event.conversationId, state: 'active', }, attributes: ['address'], transaction: tx });
      const row = (await Member.findOne({ where: { conversationId: event.conversationId, address: event.address }, transaction: tx }))!;
      after.push({
        kind: 'deliver',
        recipients: local(members.map((x) => x.address)),
        frame: serverFrame('receipt', { conversationId: event.conversationId, address: event.address, readSeq: row.readSeq, deliveredSeq: row.deliveredSeq }),
      });
    }
  }
  return { after, announce };
}
