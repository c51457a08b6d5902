import { QueryTypes, type Transaction } from 'sequelize';
import { domainOf } from '../address.ts';
import type { NodeServices } from '../context.ts';

export type Positions = { readSeq: number; deliveredSeq: number };

/**
 * The local people told that a member's receipt moved from `before` to `after`: the member (all their
 * devices, so that they agree on what has been read) and the senders of the messages the move newly
 * covers who are still active members (each shows "delivered" and "read by k of N" on their own
 * messages). Nobody else needs it. Telling every member of every receipt would cost N² frames per
 * message in a group of N: in a 3,000-member group, 9 million for one message that everyone reads.
 */
export async function receiptRecipients(
  services: NodeServices,
  conversationId: string,
  address: string,
  before: Positions,
  after: Positions,
  activeMembers: Iterable<string>,
  transaction?: Transaction,
): Promise<string[]> {
  const local = (a: string) => domainOf(a) === services.domain;
  const recipients = new Set<string>(local(address) ? [address] : []);
  const ranges: [number, number][] = [];
  if (after.readSeq > before.readSeq) ranges.push([before.readSeq, after.readSeq]);
  if (after.deliveredSeq > before.deliveredSeq) ranges.push([before.deliveredSeq, after.deliveredSeq]);
  if (ranges.length === 0) return [...recipients];
  const covered = ranges.map(() => '(seq > ? AND seq <= ?)').join(' OR ');
  const senders = await services.sequelize.query<{ sender: string }>(
    `SELECT DISTINCT sender FROM messages WHERE conversation_id = ? AND kind IN ('text', 'card') AND (${covered})`,
    { replacements: [conversationId, ...ranges.flat()], type: QueryTypes.SELECT, ...(transaction ? { transaction } : {}) },
  );
  const active = new Set(activeMembers);
  for (const { sender } of senders) if (local(sender) && active.has(sender)) recipients.add(sender);
  return [...recipients];
}
