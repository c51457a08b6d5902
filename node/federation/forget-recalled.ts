import type { Transaction } from 'sequelize';
import { containsPattern, like } from '../../core/like.ts';
import type { FederationEvent } from '../../protocol/federation-events.ts';
import type { FederationModels } from './models.ts';

/** The entries that carry their target's content, and lose it with their target's recall. */
const CHANGED_WITH = new Set(['edit', 'card.update']);

/**
 * In a recall's transaction at the conversation's home: events still waiting in the outbox for other
 * domains (one that is down, say) lose the recalled message's content, and its edits (a card's updates) theirs. Otherwise a
 * college coming back would first store and push the edited text, and only then the recall that takes
 * it back. The transaction id of a batch already sent stays; its receiver either applied it before (the
 * recall that follows blanks it there) or gets it without the text.
 */
export async function forgetRecalled(
  models: FederationModels,
  tx: Transaction,
  targetId: string,
  recalledAt: Date,
): Promise<void> {
  const { OutboxEntry } = models;
  const at = recalledAt.toISOString();
  // A message id is a UUID: it can only appear in events of that message, its edits, updates and recall. No
  // locking read: a row the sender delivers meanwhile is simply not updated, and no new event of this
  // message can be written while the recall holds the conversation's flush.
  const waiting = await OutboxEntry.findAll({
    where: { event: like(OutboxEntry.sequelize!, containsPattern(targetId)) },
    transaction: tx,
  });
  for (const row of waiting) {
    const event = JSON.parse(row.event) as FederationEvent;
    if (event.type !== 'entry') continue;
    let changed = false;
    const { message, target } = event;
    if (
      (message.id === targetId || (CHANGED_WITH.has(message.kind) && message.refId === targetId)) &&
      message.recalledAt === null
    ) {
      Object.assign(message, { body: '{}', recalledAt: at });
      changed = true;
    }
    if (target?.id === targetId && target.recalledAt === null) {
      Object.assign(target, { body: '{}', recalledAt: at });
      changed = true;
    }
    if (changed) await OutboxEntry.update({ event: JSON.stringify(event) }, { where: { id: row.id }, transaction: tx });
  }
}
