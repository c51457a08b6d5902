import { Op, QueryTypes, type Transaction } from 'sequelize';
import { advanceSequences, insertRows } from '../messages/group-commit.ts';
import { AppError } from '../../core/errors.ts';
import { domainOf } from '../../protocol/address.ts';
import { directIdentity, isDirectId } from '../conversations/open-direct.ts';
import type { NodeServices } from '../context.ts';
import type { BusEvent } from '../bus/bus.ts';
import { presentMessage } from '../messages/present-message.ts';
import { serverFrame } from '../../protocol/frames.ts';
import { coveredSenders, receiptAudience } from '../receipts/receipt-recipients.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import { policyCheck, screenEntries, snapshotRefusal, type Held, type Refusal } from './relay-checks.ts';
import { WITHHELD } from './withhold.ts';
import { clashesOf, clashRefusals, type Clash } from './sequence-taken.ts';

export class SenderNotOfOriginError extends AppError {
  constructor(message: string) {
    super('sender_not_of_origin', 403, message);
  }
}

export class InvalidConversationError extends AppError {
  constructor(message: string) {
    super('invalid_conversation', 400, message);
  }
}

/**
 * A pair's conversation is what its two addresses make it: its id and home follow from them
 * (open-direct.ts), so only that home may send it, and it names exactly those two. A group may not take
 * an id of that form, or it would stand in the way of the pair's own conversation.
 */
function checkIdentity(origin: string, snap: Extract<FederationEvent, { type: 'conversation' }>['conversation']): void {
  if (snap.kind === 'group') {
    if (isDirectId(snap.id)) throw new InvalidConversationError(`Group ${snap.id} has the id of a direct conversation`);
    return;
  }
  const [a, b, ...more] = snap.members.map((m) => m.address);
  if (!a || !b || a === b || more.length > 0 || directIdentity(a, b).id !== snap.id) {
    throw new InvalidConversationError(
      `Direct conversation ${snap.id} is not the conversation of the two people it names`,
    );
  }
  const home = directIdentity(a, b).homeDomain;
  if (home !== origin)
    throw new SenderNotOfOriginError(`${origin} sent the direct conversation of ${a} and ${b}, which ${home} orders`);
}

/** The conversations that events name (a move names none: it is a person's, taken by moved-members.ts). */
const conversationIds = (events: FederationEvent[]) => [
  ...new Set(
    events.flatMap((e) =>
      e.type === 'conversation' ? [e.conversation.id] : e.type === 'moved' ? [] : [e.conversationId],
    ),
  ),
];

/** Refuses a transaction carrying any event its origin may not author (docs/federation.md). */
export async function checkAuthorship(
  services: NodeServices,
  origin: string,
  events: FederationEvent[],
): Promise<void> {
  const ids = conversationIds(events.filter((e) => e.type !== 'receipt'));
  const known = new Map(
    (ids.length > 0
      ? await services.models.Conversation.findAll({
          where: { id: { [Op.in]: ids } },
          attributes: ['id', 'homeDomain'],
        })
      : []
    ).map((c) => [c.id, c.homeDomain]),
  );
  for (const event of events) {
    if (event.type === 'receipt') {
      if (domainOf(event.address) !== origin)
        throw new SenderNotOfOriginError(`${origin} sent a receipt for ${event.address}`);
      continue;
    }
    if (event.type === 'moved') {
      // Only the domain left speaks of its person's move; the home asks the directory where they went.
      if (domainOf(event.from) !== origin)
        throw new SenderNotOfOriginError(`${origin} sent a move of ${event.from}, who is not of it`);
      continue;
    }
    const conversationId = event.type === 'conversation' ? event.conversation.id : event.conversationId;
    if (event.type === 'conversation' && event.conversation.homeDomain !== origin) {
      throw new SenderNotOfOriginError(
        `${origin} sent a snapshot of a conversation homed at ${event.conversation.homeDomain}`,
      );
    }
    if (event.type === 'conversation') checkIdentity(origin, event.conversation);
    const home = known.get(conversationId);
    if (home !== undefined && home !== origin)
      throw new SenderNotOfOriginError(`${origin} is not the home of conversation ${conversationId}`);
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
  /** Events not applied (the rest were): for the answer to the sender. */
  refused: Refusal[];
};

export async function applyEvents(
  services: NodeServices,
  origin: string,
  events: FederationEvent[],
  tx: Transaction,
): Promise<Applied> {
  const { Conversation, Member } = services.models;
  const after: BusEvent[] = [];
  const announce = new Map<string, string[]>();
  const local = (addresses: string[]) => addresses.filter((a) => domainOf(a) === services.domain);
  const refused: Refusal[] = [];
  const mayExchange = policyCheck(services.federation.policy.registry, services.domain);
  // The conversations this node holds (or is given by this transaction): entries of any other are refused.
  const ids = conversationIds(events);
  const held = new Map<string, Held>(
    (
      await Conversation.findAll({
        where: { id: { [Op.in]: ids } },
        attributes: ['id', 'homeDomain', 'kind'],
        transaction: tx,
      })
    ).map((c) => [c.id, { homeDomain: c.homeDomain, kind: c.kind }]),
  );

  // Consecutive entries (most of a transaction) are stored together: a few statements, not trips per entry.
  let run: { index: number; event: EntryEvent }[] = [];
  const flushRun = async () => {
    if (run.length > 0) {
      const screened = await screenEntries(services.models, services.domain, held, run, mayExchange, tx);
      refused.push(...screened.refused);
      if (screened.accepted.length > 0) {
        const stored = await storeRun(services, run, screened, tx);
        after.push(...stored.after);
        refused.push(...stored.refused);
      }
    }
    run = [];
  };
  for (const [index, event] of events.entries()) {
    if (event.type !== 'entry') await flushRun();
    if (event.type === 'conversation') {
      const snap = event.conversation;
      const existing = await Conversation.findByPk(snap.id, { transaction: tx });
      if (!existing && !snap.members.some((m) => domainOf(m.address) === services.domain)) {
        refused.push({
          event: index,
          conversationId: snap.id,
          code: 'no_member_here',
          message: `Conversation ${snap.id} has no member of ${services.domain}; it is not stored here`,
        });
        continue;
      }
      const rows = new Map(
        existing
          ? (await Member.findAll({ where: { conversationId: snap.id }, transaction: tx })).map((r) => [r.address, r])
          : [],
      );
      const denied = await snapshotRefusal(snap, rows, mayExchange);
      if (denied) {
        refused.push({ event: index, conversationId: snap.id, code: 'policy_denied', message: denied });
        continue;
      }
      if (!existing) {
        await Conversation.create(
          {
            id: snap.id,
            kind: snap.kind,
            homeDomain: origin,
            title: snap.title,
            directKey: null,
            createdBy: snap.members[0]?.address ?? origin,
          },
          { transaction: tx },
        );
        held.set(snap.id, { homeDomain: origin, kind: snap.kind });
      } else if (existing.title !== snap.title) {
        existing.title = snap.title;
        await existing.save({ transaction: tx });
      }
      // Whose membership this change began or ended: they are shown the group (the rest apply its entry).
      const concerned = await applyMembers(Member, snap, rows, tx);
      after.push({ kind: 'membership', conversationId: snap.id });
      const tell = local(concerned);
      if (tell.length > 0) announce.set(snap.id, tell);
    } else if (event.type === 'entry') {
      run.push({ index, event });
      continue;
    } else if (event.type === 'receipt') {
      const raise = (column: string, to: number) =>
        services.sequelize.literal(`CASE WHEN ${column} < ${to} THEN ${to} ELSE ${column} END`);
      // The home knows where its conversation ends: a reader's node may have run ahead of its own copy.
      const conversation = await Conversation.findByPk(event.conversationId, {
        attributes: ['homeDomain', 'lastSeq'],
        transaction: tx,
      });
      const cap = conversation?.homeDomain === services.domain ? conversation.lastSeq : Number.MAX_SAFE_INTEGER;
      const where = { conversationId: event.conversationId, address: event.address };
      const before = await Member.findOne({ where, attributes: ['readSeq', 'deliveredSeq'], transaction: tx });
      if (!before) continue;
      await Member.update(
        {
          readSeq: raise('read_seq', Math.min(event.readSeq, cap)) as never,
          deliveredSeq: raise('delivered_seq', Math.min(event.deliveredSeq, cap)) as never,
        },
        { where, transaction: tx },
      );
      const row = (await Member.findOne({ where, attributes: ['readSeq', 'deliveredSeq'], transaction: tx }))!;
      const members = await Member.findAll({
        where: { conversationId: event.conversationId, state: 'active' },
        attributes: ['address'],
        transaction: tx,
      });
      // The reader's devices here and the local senders of what the receipt newly covers (receiptAudience).
      const senders = await coveredSenders(services.sequelize, event.conversationId, before, row, tx);
      const recipients = receiptAudience(
        services.domain,
        event.address,
        senders,
        members.map((x) => x.address),
      );
      if (recipients.length > 0) {
        after.push({
          kind: 'deliver',
          recipients,
          frame: serverFrame('receipt', {
            conversationId: event.conversationId,
            address: event.address,
            readSeq: row.readSeq,
            deliveredSeq: row.deliveredSeq,
          }),
        });
      }
    }
  }
  await flushRun();
  return { after, announce, refused: refused.sort((a, b) => a.event - b.event) };
}

type EntryEvent = Extract<FederationEvent, { type: 'entry' }>;

/** Stores a screened run; its entries at seqs held here by other entries are refused (sequence-taken.ts). */
async function storeRun(
  services: NodeServices,
  run: { index: number; event: EntryEvent }[],
  screened: { accepted: EntryEvent[]; refused: Refusal[] },
  tx: Transaction,
): Promise<{ after: BusEvent[]; refused: Refusal[] }> {
  const stored = await storeEntries(services, screened.accepted, tx);
  const indexOf = new Map(run.map((r) => [r.event.message.id, r.index]));
  const already = new Set(screened.refused.map((r) => r.event));
  const clashes = await clashRefusals(services.sequelize, services.domain, stored.clashes, indexOf, tx);
  // A placeholder of an entry refused already is dropped, not refused twice.
  return { after: stored.after, refused: clashes.filter((r) => !already.has(r.event)) };
}

async function storeEntries(
  services: NodeServices,
  run: EntryEvent[],
  tx: Transaction,
): Promise<{ after: BusEvent[]; clashes: Clash[] }> {
  const { Message, Member } = services.models;
  const stored = await services.sequelize.query<{ id: string }>(
    `SELECT id FROM messages WHERE id IN (${run.map(() => '?').join(', ')})`,
    {
      replacements: run.map((e) => e.message.id),
      type: QueryTypes.SELECT,
      transaction: tx,
    },
  );
  const seen = new Set(stored.map((r) => r.id));
  const unseen: EntryEvent[] = [];
  for (const event of run) {
    if (seen.has(event.message.id)) continue;
    seen.add(event.message.id);
    unseen.push(event);
  }
  if (unseen.length === 0) return { after: [], clashes: [] };
  // A seq held here by another entry is not the newcomer's to take (sequence-taken.ts).
  const { storing: fresh, clashes } = await clashesOf(services.sequelize, unseen, tx);
  if (fresh.length === 0) return { after: [], clashes };
  const rows = fresh.map((e) => ({
    conversationId: e.conversationId,
    seq: e.message.seq,
    id: e.message.id,
    sender: e.message.sender,
    clientMsgId: e.message.clientMsgId,
    kind: e.message.kind,
    body: e.message.body,
    refId: e.message.refId,
    createdAt: new Date(e.message.createdAt),
    editedAt: e.message.editedAt ? new Date(e.message.editedAt) : null,
    recalledAt: e.message.recalledAt ? new Date(e.message.recalledAt) : null,
  }));
  await insertRows(services.sequelize, tx, rows);

  const highest = new Map<string, number>();
  for (const row of rows) highest.set(row.conversationId, Math.max(highest.get(row.conversationId) ?? 0, row.seq));
  const ids = [...highest.keys()];
  await advanceSequences(services.sequelize, tx, [...highest], new Date(), { forwardOnly: true });

  for (const event of fresh) {
    if (!event.target) continue;
    const target = event.target;
    // A placeholder stands for an entry this copy may not hold (screenEntries does not judge a change of
    // it): the state a change gives that entry, its text included, must not land on it.
    await Message.update(
      {
        body: target.body,
        editedAt: target.editedAt ? new Date(target.editedAt) : null,
        recalledAt: target.recalledAt ? new Date(target.recalledAt) : null,
      },
      {
        where: { id: target.id, conversationId: event.conversationId, kind: { [Op.ne]: WITHHELD } },
        transaction: tx,
      },
    );
    // As at the home: a recalled message's edits (a card's updates) lose their text too (each carried it).
    if (target.recalledAt) {
      await Message.update(
        { body: '{}', recalledAt: new Date(target.recalledAt) },
        {
          where: { conversationId: event.conversationId, refId: target.id, kind: ['edit', 'card.update'] },
          transaction: tx,
        },
      );
    }
  }

  const members = await Member.findAll({
    where: { conversationId: { [Op.in]: ids }, state: 'active' },
    attributes: ['conversationId', 'address'],
    transaction: tx,
  });
  const local = new Map<string, string[]>();
  for (const m of members)
    if (domainOf(m.address) === services.domain)
      local.set(m.conversationId, [...(local.get(m.conversationId) ?? []), m.address]);
  const after = rows.map((row) => ({
    kind: 'deliver' as const,
    recipients: local.get(row.conversationId) ?? [],
    frame: serverFrame('message', { message: presentMessage(row) }),
  }));
  return { after, clashes };
}

/** Brings the members' rows in line with a snapshot; answers whose membership it began or ended. */
async function applyMembers(
  Member: NodeServices['models']['Member'],
  snap: Extract<FederationEvent, { type: 'conversation' }>['conversation'],
  rows: Map<string, InstanceType<NodeServices['models']['Member']>>,
  tx: Transaction,
): Promise<string[]> {
  const concerned: string[] = [];
  for (const m of snap.members) {
    const row = rows.get(m.address);
    const joining = m.state === 'active' && (!row || row.state !== 'active' || row.joinedSeq !== m.joinedSeq);
    // Receipts start where a membership does, as at the home.
    const start = joining ? { readSeq: m.joinedSeq, deliveredSeq: m.joinedSeq } : {};
    if (row) {
      if (row.role !== m.role || row.state !== m.state || row.joinedSeq !== m.joinedSeq) {
        await Member.update(
          { role: m.role, state: m.state, joinedSeq: m.joinedSeq, ...start },
          { where: { conversationId: snap.id, address: m.address }, transaction: tx },
        );
      }
    } else {
      await Member.create(
        {
          conversationId: snap.id,
          address: m.address,
          role: m.role,
          state: m.state,
          joinedSeq: m.joinedSeq,
          ...start,
        },
        { transaction: tx },
      );
    }
    if (joining || (row?.state === 'active' && m.state !== 'active')) concerned.push(m.address);
  }
  return concerned;
}
