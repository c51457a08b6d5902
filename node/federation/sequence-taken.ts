import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { Logger } from '../../core/logger.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import type { Refusal } from './relay-checks.ts';
import { reported, type EntryEvent } from './withhold.ts';
import type { OutboxOptions } from './outbox.ts';

/**
 * A home numbers its conversations' entries; a copy keeps them at the home's seqs. When the home sends
 * another entry at a seq a copy already holds, the two disagree about what was said there: the home was
 * most likely restored from a backup older than the copy, and numbered new entries again. The copy keeps
 * what it holds and refuses the newcomer as `sequence_taken`, telling the home the highest seq it holds;
 * the home numbers that conversation past it (so what it orders next reaches the copy) and tells the
 * entries' authors they did not arrive there (docs/federation.md, "What a home may relay").
 */
export type Clash = { event: EntryEvent; heldBy: string };

const key = (conversationId: string, seq: number) => `${conversationId}|${seq}`;

/** Which of these entries (new here by id) would take a seq this node holds as another entry. */
export async function clashesOf(
  sequelize: Sequelize,
  entries: EntryEvent[],
  tx: Transaction,
): Promise<{ storing: EntryEvent[]; clashes: Clash[] }> {
  const ids = [...new Set(entries.map((e) => e.conversationId))];
  const seqs = [...new Set(entries.map((e) => e.message.seq))];
  // On the (conversation_id, seq) key: one look-up per transaction's run of entries.
  const held = await sequelize.query<{ conversation_id: string; seq: number | string; id: string }>(
    `SELECT conversation_id, seq, id FROM messages WHERE conversation_id IN (${ids.map(() => '?').join(', ')}) AND seq IN (${seqs.map(() => '?').join(', ')})`,
    {
      replacements: [...ids, ...seqs],
      type: QueryTypes.SELECT,
      transaction: tx,
    },
  );
  const taken = new Map(held.map((r) => [key(r.conversation_id, Number(r.seq)), r.id]));
  const storing: EntryEvent[] = [];
  const clashes: Clash[] = [];
  for (const event of entries) {
    const at = key(event.conversationId, event.message.seq);
    const heldBy = taken.get(at);
    if (heldBy !== undefined && heldBy !== event.message.id) {
      clashes.push({ event, heldBy });
      continue;
    }
    // Two entries at one seq in the same transaction: the first one stands.
    taken.set(at, event.message.id);
    storing.push(event);
  }
  return { storing, clashes };
}

/** The refusals of clashing entries, each naming the highest seq of its conversation held here (after the rest is stored). */
export async function clashRefusals(
  sequelize: Sequelize,
  domain: string,
  clashes: Clash[],
  indexOf: Map<string, number>,
  tx: Transaction,
): Promise<Refusal[]> {
  if (clashes.length === 0) return [];
  const ids = [...new Set(clashes.map((c) => c.event.conversationId))];
  const rows = await sequelize.query<{ id: string; last_seq: number | string }>(
    `SELECT id, last_seq FROM conversations WHERE id IN (${ids.map(() => '?').join(', ')})`,
    { replacements: ids, type: QueryTypes.SELECT, transaction: tx },
  );
  const highest = new Map(rows.map((r) => [r.id, Number(r.last_seq)]));
  return clashes.map(({ event, heldBy }) => {
    const heldSeq = highest.get(event.conversationId) ?? event.message.seq;
    return {
      event: indexOf.get(event.message.id) ?? -1,
      conversationId: event.conversationId,
      code: 'sequence_taken' as const,
      message: `${domain} holds entry ${heldBy} at seq ${event.message.seq} of conversation ${event.conversationId}, not ${event.message.id}, and holds it up to seq ${heldSeq}: number this conversation past ${heldSeq} (was the home restored from an older backup?)`,
      heldSeq,
      heldBy,
    };
  });
}

/** How far past a refused entry's seq a peer may say it holds the conversation. */
export const MAX_LEAD = 1_000_000;

type Taken = { conversationId: string; seq: number; ours: string; theirs: string };

/** One line per conversation: `seq 4 (here a, sent b), seq 5 (…)`. */
function byConversation(taken: Taken[], here: string, sent: string): Map<string, string> {
  const lines = new Map<string, string[]>();
  for (const t of taken) {
    const line = `seq ${t.seq} (${here} ${t.theirs}, ${sent} ${t.ours})`;
    lines.set(t.conversationId, [...(lines.get(t.conversationId) ?? []), line]);
  }
  return new Map([...lines].map(([id, list]) => [id, list.join(', ')]));
}

/** On the copy: one error per conversation for the operator, naming the peer, the seqs, both entries and what it means. */
export function logClashesHere(logger: Logger, origin: string, events: FederationEvent[], refused: Refusal[]): void {
  const taken: Taken[] = [];
  const highest = new Map<string, number>();
  for (const r of refused) {
    const event = events[r.event];
    if (r.code !== 'sequence_taken' || event?.type !== 'entry') continue;
    const { seq, id } = event.message;
    taken.push({ conversationId: r.conversationId, seq, ours: id, theirs: r.heldBy ?? '?' });
    highest.set(r.conversationId, r.heldSeq ?? seq);
  }
  for (const [conversationId, seqs] of byConversation(taken, 'held here', 'sent')) {
    const heldSeq = highest.get(conversationId);
    logger.error(
      { origin, conversationId, heldSeq, code: 'sequence_taken' },
      `${origin} sent entries of conversation ${conversationId} at seqs this node holds as other entries: ${seqs}. ` +
        `${origin} was most likely restored from a backup older than the copies held here, and numbered new entries again. ` +
        `They were refused (sequence_taken), and ${origin} told to number past seq ${heldSeq}; the rest of its transaction was taken. ` +
        `Keep this node's copies (the entries held here may be the only ones left of what ${origin} lost) and tell ${origin}'s operator (docs/operations.md, "Restoring one node").`,
    );
  }
}

/** The `sequence_taken` refusals of a destination's answer to a transaction, as far as they are well formed. */
export function takenIn(body: Record<string, unknown>): Refusal[] {
  const refused = Array.isArray(body.refused) ? (body.refused as Partial<Refusal>[]) : [];
  return refused.filter(
    (r): r is Refusal =>
      r?.code === 'sequence_taken' &&
      Number.isSafeInteger(r.event) &&
      typeof r.conversationId === 'string' &&
      Number.isSafeInteger(r.heldSeq),
  );
}

/**
 * At the home: a destination holds other entries at seqs of conversations ordered here. Each such
 * conversation is numbered past the highest seq the destination holds (so what comes next reaches it),
 * then the refused entries' authors are told, as for any refusal for good (delivery-failures.ts: a
 * `delivery.failed` entry, itself numbered past). Nothing already stored here is renumbered.
 */
export async function peerHoldsOurSeqs(
  options: Pick<OutboxOptions, 'logger' | 'onRefused' | 'onSequenceTaken'>,
  destination: string,
  events: FederationEvent[],
  refused: Refusal[],
): Promise<void> {
  const taken: Taken[] = [];
  const highest = new Map<string, number>();
  const entries: EntryEvent[] = [];
  for (const r of refused) {
    const event = events[r.event];
    if (event?.type !== 'entry' || event.conversationId !== r.conversationId) continue;
    taken.push({
      conversationId: r.conversationId,
      seq: event.message.seq,
      ours: event.message.id,
      theirs: r.heldBy ?? '?',
    });
    // A peer's word moves a counter only so far: a copy holds no more than a home could have numbered.
    const heldSeq = Math.min(r.heldSeq!, event.message.seq + MAX_LEAD);
    highest.set(r.conversationId, Math.max(highest.get(r.conversationId) ?? 0, heldSeq));
    if (reported(event)) entries.push(event);
  }
  for (const [conversationId, seqs] of byConversation(taken, `held by ${destination}:`, 'ours:')) {
    options.logger.error(
      { destination, conversationId, heldSeq: highest.get(conversationId), code: 'sequence_taken' },
      `${destination} holds other entries at seqs of conversation ${conversationId}, which this node orders: ${seqs}. ` +
        `This node was most likely restored from a backup older than ${destination}'s copy, and numbered new entries again. ` +
        `Those entries of ours are not delivered there (their authors are told); the conversation now numbers past seq ${highest.get(conversationId)}, so what follows reaches ${destination}. ` +
        `The entries ${destination} holds at those seqs are missing here (docs/operations.md, "Restoring one node").`,
    );
  }
  await options.onSequenceTaken?.([...highest]);
  if (entries.length === 0) return;
  const error = `sequence_taken: ${destination} holds other entries at these seqs (this node was restored from an older backup)`;
  await options
    .onRefused?.(destination, entries, { reason: 'sequence_taken', error })
    .catch((err: unknown) => options.logger.error({ err }, 'could not report refused events'));
}
