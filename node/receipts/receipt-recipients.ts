import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import { domainOf } from '../../protocol/address.ts';

export type Positions = { readSeq: number; deliveredSeq: number };

/**
 * The local people told that a member's receipt moved: the member (all their devices, so that they
 * agree on what has been read) and the senders of the messages the move newly covers who are still
 * active members (each shows "delivered" and "read by k of N" on their own messages). Nobody else needs
 * it. Telling every member of every receipt would cost N² frames per message in a group of N: in a
 * 3,000-member group, 9 million for one message that everyone reads.
 */
export function receiptAudience(
  domain: string,
  address: string,
  senders: Iterable<string>,
  activeMembers: Iterable<string>,
): string[] {
  const local = (a: string) => domainOf(a) === domain;
  const active = new Set(activeMembers);
  const audience = new Set<string>(local(address) ? [address] : []);
  for (const sender of senders) if (local(sender) && active.has(sender)) audience.add(sender);
  return [...audience];
}

/** The stretches of a conversation a move from `before` to `after` newly covers, read or delivered: (low, high]. */
export function coveredRanges(before: Positions, after: Positions): [number, number][] {
  const ranges: [number, number][] = [];
  if (after.readSeq > before.readSeq) ranges.push([before.readSeq, after.readSeq]);
  if (after.deliveredSeq > before.deliveredSeq) ranges.push([before.deliveredSeq, after.deliveredSeq]);
  return ranges;
}

/** The distinct senders of the text and card entries a move from `before` to `after` newly covers. */
export async function coveredSenders(
  sequelize: Sequelize,
  conversationId: string,
  before: Positions,
  after: Positions,
  transaction?: Transaction,
): Promise<string[]> {
  const ranges = coveredRanges(before, after);
  if (ranges.length === 0) return [];
  const covered = ranges.map(() => '(seq > ? AND seq <= ?)').join(' OR ');
  const rows = await sequelize.query<{ sender: string }>(
    `SELECT DISTINCT sender FROM messages WHERE conversation_id = ? AND kind IN ('text', 'card') AND (${covered})`,
    {
      replacements: [conversationId, ...ranges.flat()],
      type: QueryTypes.SELECT,
      ...(transaction ? { transaction } : {}),
    },
  );
  return rows.map((r) => r.sender);
}
